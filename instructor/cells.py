"""The notebook vocabulary of nbgrader, as this course uses it: one home for every other module.

- The markers of a solution and of hidden tests, each on a line of its own (indented or not), and
  the blocks they enclose: ``solutions``, ``hidden_tests``, ``without_solutions``,
  ``without_hidden_tests``.
- What a cell is, from its nbgrader metadata: ``grade_id``, ``cell_name``, ``is_test``,
  ``is_solution``, ``is_written_answer``, ``is_locked``; the points of the test cells and of the
  written answers.
- The secret lines: what a student never sees (solutions, hidden tests, model answers).
- Where nbgrader keeps a chapter's notebook at each step (release, submitted, autograded,
  feedback), a file's checksum, and the student version with the instructor's answers filled in.
"""

import hashlib
import re
from pathlib import Path

import nbformat

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: What only the instructor's notebook may show; no student version or feedback holds any of it.
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", *HIDDEN_MARKERS, "Model answer")
#: nbgrader's folders, one per step of an assignment.
RELEASE, SUBMITTED, AUTOGRADED, FEEDBACK = "release", "submitted", "autograded", "feedback"


def block(begin: str, end: str) -> re.Pattern:
    """The lines from ``begin`` to ``end``: groups ``indent`` (of the first) and ``body`` (between)."""
    return re.compile(
        rf"^(?P<indent>[ \t]*){begin}[ \t]*\n(?P<body>.*?)^[ \t]*{end}[ \t]*(?:\n|\Z)", re.S | re.M
    )


SOLUTION = block(BEGIN_SOLUTION, END_SOLUTION)
HIDDEN = block(BEGIN_HIDDEN, END_HIDDEN)


def solutions(source: str) -> list[str]:
    """The body of every solution block in ``source``."""
    return [match["body"] for match in SOLUTION.finditer(source)]


def hidden_tests(source: str) -> list[str]:
    """The body of every hidden-test block in ``source``."""
    return [match["body"] for match in HIDDEN.finditer(source)]


def without_solutions(source: str) -> str:
    return SOLUTION.sub("", source)


def without_hidden_tests(source: str, placeholder: str = "") -> str:
    """``source`` with each hidden-test block, markers included, replaced by ``placeholder``."""
    return HIDDEN.sub(lambda _: placeholder, source)


def stray_markers(source: str) -> list[str]:
    """Lines that hold a marker beside other text (nbgrader would drop the whole line)."""
    markers = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
    lines = [line.strip() for line in source.splitlines()]
    return [line for line in lines if line not in markers and any(m in line for m in markers)]


def nbgrader(cell) -> dict:
    """A cell's nbgrader metadata (empty for a cell nbgrader does not know)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell) -> str | None:
    return nbgrader(cell).get("grade_id")


def cell_name(cell, index) -> str:
    """A cell's nbgrader id, or its position for a cell without one."""
    return grade_id(cell) or f"cell {index}"


def is_test(cell) -> bool:
    """An autograded test cell: code with points, not a solution."""
    meta = nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_solution(cell) -> bool:
    """A cell the student writes in: solution code, or a written answer."""
    return bool(nbgrader(cell).get("solution"))


def is_written_answer(cell) -> bool:
    """A markdown solution cell: the student's prose, graded by hand."""
    return cell.cell_type == "markdown" and is_solution(cell)


def is_locked(cell) -> bool:
    """A read-only cell: restored from the gradebook before grading."""
    return bool(nbgrader(cell).get("locked"))


def autograded_points(notebook) -> dict[str, float]:
    """Points of each autograded test cell, by grade_id."""
    return {grade_id(c): nbgrader(c).get("points") for c in notebook.cells if is_test(c)}


def written_points(notebook) -> dict[str, float]:
    """Points of each written answer (graded by hand in formgrader), by grade_id."""
    answers = [c for c in notebook.cells if is_written_answer(c)]
    return {grade_id(c): nbgrader(c).get("points") for c in answers}


def _unique(secret: set[str], public: set[str]) -> set[str]:
    """The lines of ``secret`` that ``public`` does not show, long enough to tell, not comments."""
    return {line for line in secret - public if len(line) >= 8 and not line.startswith("#")}


def _lines(texts) -> set[str]:
    return {line.strip() for text in texts for line in text.splitlines()}


def secret_lines(notebook) -> set[str]:
    """Lines of solutions, hidden tests and model answers that appear nowhere else in the chapter."""
    secret, public = set(), set()
    for cell in notebook.cells:
        if is_written_answer(cell):
            secret |= _lines([cell.source])
        else:
            secret |= _lines(solutions(cell.source) + hidden_tests(cell.source))
            public |= _lines([without_hidden_tests(without_solutions(cell.source))])
    return _unique(secret, public)


def hidden_test_lines(notebook) -> set[str]:
    """Lines of hidden tests that appear nowhere else in the chapter."""
    secret, public = set(), set()
    for cell in notebook.cells:
        secret |= _lines(hidden_tests(cell.source))
        public |= _lines([without_hidden_tests(cell.source)])
    return _unique(secret, public)


def chapter_folder(course_root: Path, step: str, chapter, student: str | None = None) -> Path:
    """``release/chN`` or ``<step>/<student>/chN``: where nbgrader keeps a chapter at ``step``."""
    owner = [] if student is None else [student]
    return Path(course_root, step, *owner, chapter.assignment)


def chapter_notebook(course_root: Path, step: str, chapter, student: str | None = None) -> Path:
    """The chapter's notebook in ``chapter_folder``."""
    return chapter_folder(course_root, step, chapter, student) / chapter.path.name


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def answered(student_version, instructor_version, only=None):
    """A copy of ``student_version`` with the instructor's solution code in each solution code
    cell (or only in those whose grade_id is in ``only``): the submission that scores full marks."""
    answers = {grade_id(c): c.source for c in instructor_version.cells}
    notebook = nbformat.from_dict(student_version)
    for cell in notebook.cells:
        if cell.cell_type == "code" and is_solution(cell):
            if only is None or grade_id(cell) in only:
                cell.source = answers[grade_id(cell)]
    return notebook
