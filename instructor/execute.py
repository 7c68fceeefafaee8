"""``GuardedExecute``: nbgrader's ``Execute`` with a sandboxed kernel, a guard and a deadline.

- The kernel is started by ``SandboxKernelManager`` (instructor/sandbox.py).
- Before every test cell and after the last cell, the kernel guard (instructor/kernel_guard.py)
  puts back any checking function the student rebound (``torch.allclose = ...``), so that the
  tests run against the originals; what it found goes into the notebook's metadata
  (``course_grading.rebound``), which ``make autograde`` reports as a tamper flag.
- A notebook-wide deadline: once a cell has timed out (an endless loop), every later cell shares
  a short grace budget (``grace_seconds``), so an endless loop that several cells call costs one
  cell timeout plus the grace, not one timeout per cell.
- Output on stderr is not an error: a test cell's stderr (a progress bar, a warning, a log record)
  becomes ordinary output, which nbgrader grades like any other (it gives a test cell with stderr
  zero points). An error still scores zero.
- A dead kernel (``os._exit``, a crash, the sandbox's memory or CPU limit) ends the run, not the
  grading: the cell it died in gets an error that says so, every later test cell an error saying
  it was not run (zero points), and the cell's name goes into ``course_grading.died_in``.
"""

import ast
import time

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer

from instructor.sandbox import SandboxKernelManager

GUARD_EXPRESSION = "__import__('_course_guard').restore()"
METADATA = "course_grading"
GUARD_SECONDS = 30
DIED = "the kernel died while this cell ran (os._exit, a crash, or a memory or CPU limit)"


def is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def cell_name(cell, index: int) -> str:
    """A cell's nbgrader id, or its position for a cell without one."""
    return cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")


def error(ename: str, evalue: str):
    """An error output, shown as nbgrader shows its own (a red name and the message)."""
    return new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]
    )


def stderr_as_stdout(cell) -> None:
    """Turn the cell's stderr output into ordinary output, text unchanged."""
    for output in cell.get("outputs", []):
        if output.output_type == "stream" and output.name == "stderr":
            output.name = "stdout"


class GuardedExecute(Execute):
    """Execute in a sandboxed kernel; restore the checking functions before each test cell."""

    grace_seconds = Integer(
        15, help="Seconds that all the cells after a timed-out cell share, together."
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._grace_deadline = None
        self._report = {"rebound": [], "timeouts": 0, "guard": "ok", "died_in": None}
        nb.metadata.pop(METADATA, None)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._report["rebound"] = sorted(set(self._report["rebound"]))
            nb.metadata[METADATA] = self._report

    def preprocess_cell(self, cell, resources, index):
        died_in = self._report["died_in"]
        if died_in is not None:
            if is_test(cell):
                cell.outputs = [error("DeadKernelError", f"not run: the kernel died in {died_in}")]
            return cell, resources
        if is_test(cell):
            self._guard()
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._report["died_in"] = cell_name(cell, index)
            cell.outputs.append(error("DeadKernelError", DIED))
            return cell, resources
        if is_test(cell):
            stderr_as_stdout(cell)
        if index == len(self.nb.cells) - 1:
            self._guard()
        return cell, resources

    def _guard(self):
        """Restore the checking functions in the kernel; record which ones had been rebound."""
        if self._report["guard"] != "ok":
            return
        try:
            msg_id = self.kc.execute(
                "", silent=True, store_history=False, user_expressions={"x": GUARD_EXPRESSION}
            )
            reply = run_sync(self.async_wait_for_reply)(msg_id)
            result = reply["content"]["user_expressions"]["x"]
        except Exception as error:  # a dead kernel, no reply: the cells report it themselves
            self._report["guard"] = f"could not run: {type(error).__name__} {error}"[:200]
            return
        if result.get("status") != "ok":
            self._report["guard"] = f"broken: {result.get('ename')} {result.get('evalue')}"[:200]
            return
        text = result["data"]["text/plain"]
        try:
            self._report["rebound"] += list(ast.literal_eval(text))
        except (ValueError, SyntaxError):
            self._report["guard"] = f"unexpected answer {text[:100]!r}"

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        if cell is None:  # the guard's own call: quick, unless the kernel hangs
            return min(timeout or GUARD_SECONDS, GUARD_SECONDS)
        if self._grace_deadline is None:
            return timeout
        left = max(1, int(self._grace_deadline - time.monotonic()))
        return min(timeout, left) if timeout else left

    async def _async_handle_timeout(self, timeout, cell=None):
        self._report["timeouts"] += 1
        if self._grace_deadline is None:
            self._grace_deadline = time.monotonic() + self.grace_seconds
        return await super()._async_handle_timeout(timeout, cell)
