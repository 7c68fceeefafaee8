"""Feedback without hidden tests, and a check that nothing a student receives leaks a secret.

nbgrader's ``generate_feedback`` renders the autograded notebook, in which the hidden tests were
restored from the gradebook: its feedback shows them verbatim. ``HideTests`` (added to
``GenerateFeedback.preprocessors`` in nbgrader_config.py) removes them first: each test cell keeps
its visible lines, its points and its outputs, but its hidden region becomes one comment, and an
error in a test cell shows only its type and message (a traceback quotes the lines around the
failure, hidden or not).

``leaks(course_root, chapters)`` reads every file in ``release/`` and ``feedback/`` for a line of
a solution, hidden test or model answer (release) or of a hidden test (feedback, where a student's
own solution may well match the instructor's).
"""

import html
import re
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from instructor.release import HIDDEN, MARKERS, nbgrader, secret_lines

HIDDEN_REGION = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS[ \t]*\n?", re.S)
PLACEHOLDER = "# (hidden tests: their results are below, their code is not shown)\n"
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
TAGS = re.compile(r"<[^>]+>")


class HideTests(NbGraderPreprocessor):
    """In test cells: hidden tests replaced by a comment, error tracebacks by their message."""

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            meta = nbgrader(cell)
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            cell.source = HIDDEN_REGION.sub(PLACEHOLDER, cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
        return nb, resources


def hidden_test_lines(notebook) -> set[str]:
    """Lines of hidden tests that appear nowhere else in the chapter."""
    public = set()
    hidden = set()
    for cell in notebook.cells:
        for region in HIDDEN.findall(cell.source):
            hidden.update(line.strip() for line in region.splitlines())
        public.update(line.strip() for line in HIDDEN.sub("", cell.source).splitlines())
    return {line for line in hidden - public if len(line) >= 8 and not line.startswith("#")}


def text_lines(path: Path) -> set[str]:
    """The stripped lines of a file as a reader sees them (HTML: without tags, unescaped)."""
    text = path.read_text(errors="replace")
    if path.suffix == ".html":
        text = html.unescape(TAGS.sub("", text))
    elif path.suffix == ".ipynb":
        try:
            notebook = nbformat.reads(text, as_version=4)
            text = "\n".join(cell.source for cell in notebook.cells)
        except Exception:  # not a notebook after all: read it as text
            pass
    return {line.strip() for line in text.splitlines()}


def leaks(course_root: Path, chapters) -> list[str]:
    """``"<file>: <what>"`` for every secret line or marker in ``release/`` or ``feedback/``."""
    found = []
    for chapter in chapters:
        source = nbformat.read(chapter.path, as_version=4)
        secrets = {
            "release": (secret_lines(source), MARKERS),
            "feedback": (hidden_test_lines(source), HIDDEN_MARKERS),
        }
        for folder, (lines, marks) in secrets.items():
            base = course_root / folder
            paths = base.glob(f"{chapter.assignment}/**/*") if folder == "release" else []
            if folder == "feedback":
                paths = base.glob(f"*/{chapter.assignment}/**/*")
            for path in sorted(p for p in paths if p.is_file()):
                seen = text_lines(path)
                markers = [m for m in marks if any(m in line for line in seen)]
                where = path.relative_to(course_root)
                found += [f"{where}: marker {m!r}" for m in markers]
                found += [f"{where}: {line!r}" for line in sorted(seen & lines)]
    return found
