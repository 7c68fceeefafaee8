"""A live Jupyter kernel that runs a chapter's cells one at a time, in fast mode.

The exercise harness (``tests/exercises.py``) uses it to run a notebook up to an exercise once,
then try the instructor's solution and typical wrong answers against the exercise's own test
cells, without re-running the chapter.
"""

import os
import textwrap
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel

from instructor.cells import SOLUTION, grade_id
from instructor.environment import RUN

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"


def with_answer(source, body, block=0):
    """``source`` with its ``block``-th solution block replaced by ``body``, indented to match."""
    blocks = list(SOLUTION.finditer(source))
    assert len(blocks) > block, f"the cell has {len(blocks)} solution blocks, not {block + 1}"
    match = blocks[block]
    indent = match["indent"]
    lines = textwrap.dedent(body).strip("\n").splitlines()
    indented = "".join(f"{indent}{line}\n" if line else "\n" for line in lines)
    return source[: match.start()] + indented + source[match.end() :]


def with_answers(source, bodies):
    """``source`` with its solution blocks replaced by ``bodies`` (one string, or one per block,
    ``None`` keeping that block)."""
    bodies = [bodies] if isinstance(bodies, str) else bodies
    for block, body in reversed(list(enumerate(bodies))):  # last first: numbers shift once replaced
        if body is not None:
            source = with_answer(source, body, block)
    return source


class CellFailed(AssertionError):
    """A cell raised; ``ename`` and ``evalue`` say what."""

    def __init__(self, ename, evalue, source):
        super().__init__(f"{ename}: {evalue}\n--- in cell ---\n{source[:800]}")
        self.ename, self.evalue = ename, evalue


class ChapterKernel:
    """Context manager: ``with ChapterKernel("01_transposed_convolutions") as k: ...``."""

    def __init__(self, chapter, timeout=600):  # seconds a cell may run: training, on a busy machine
        path = (
            CHAPTERS / f"{chapter}.ipynb" if not str(chapter).endswith(".ipynb") else Path(chapter)
        )
        self.notebook = nbformat.read(path, as_version=4)
        self.code_cells = [c for c in self.notebook.cells if c.cell_type == "code"]
        self.timeout = timeout

    def __enter__(self):
        env = dict(os.environ, **RUN)
        self.manager, self.client = start_new_kernel(
            kernel_name="python3", cwd=str(CHAPTERS), env=env
        )
        return self

    def __exit__(self, *exc):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)

    def cell(self, grade):
        """The source of the cell with nbgrader ``grade_id`` ``grade``."""
        for cell in self.notebook.cells:
            if grade_id(cell) == grade:
                return cell.source
        raise KeyError(f"no cell with grade_id {grade!r}")

    def run(self, source):
        """Run ``source``; raise ``CellFailed`` if it raises. Returns the text it printed."""
        printed = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                printed.append(msg["content"]["text"])

        reply = self.client.execute_interactive(source, timeout=self.timeout, output_hook=hook)
        content = reply["content"]
        if content["status"] != "ok":
            raise CellFailed(content.get("ename"), content.get("evalue"), source)
        return "".join(printed)

    def run_cell(self, grade):
        return self.run(self.cell(grade))
