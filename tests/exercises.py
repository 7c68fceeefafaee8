"""One check for every chapter's exercise, driven by the tables in ``tests/test_chapterNN.py``.

A chapter's test file declares an :class:`Exercise`: for each solution cell a :class:`Task` with
its test cells and their points, correct answers written differently (``alternatives``), wrong
ones (``mistakes``) and ways of reusing the library's reference (``reuse``).
:meth:`Exercise.checks` turns the tables into tests that share one live kernel per chapter, in
grading (fast) mode:

- the solutions pass every test cell, hidden tests included, and the points add up;
- each alternative passes every test cell of its task, and the first alternatives pass together;
- each mistake fails the test cells it names (default: the task's first), in their visible part,
  or, if ``hidden``, only in the hidden tests, with a message matching ``match`` if given;
- each reuse of the library fails like a mistake, with a message that names ``course_utils``;
- no row fails as a SyntaxError, IndentationError or NameError unless its ``match`` says so (such
  a row is broken, not caught). ``EXERCISE_MESSAGES=file`` lists each mistake's message there.

An answer is the body of the solution block (a string), one body per block (a list, ``None``
keeping the instructor's block: :func:`block`), a whole cell (:class:`Cell`) or the instructor's
cell edited (:class:`Edit`).
"""

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import nbformat
import pytest
from kernel import CHAPTERS, CellFailed, ChapterKernel, with_answers

from instructor.cells import BEGIN_SOLUTION, END_SOLUTION, HIDDEN, grade_id
from instructor.cells import autograded_points as points_of

MARKERS = re.compile(rf"^[ \t]*({BEGIN_SOLUTION}|{END_SOLUTION})[ \t]*\n", re.M)
LIBRARY = "course_utils"
BROKEN = ("SyntaxError", "IndentationError", "NameError")  # a table's row, not the answer, is wrong


@dataclass(frozen=True)
class Cell:
    """A whole solution cell as a student wrote it (a class that subclasses the reference, say)."""

    source: str


@dataclass(frozen=True)
class Edit:
    """The instructor's cell, markers removed, with each ``old`` (text or a compiled pattern)
    replaced by its ``new``, and ``before`` put in front."""

    replace: dict
    before: str = ""

    def apply(self, solution: str) -> str:
        source = MARKERS.sub("", solution)
        for old, new in self.replace.items():
            if isinstance(old, re.Pattern):
                source, found = old.subn(lambda _, new=new: new, source)
            else:
                source, found = source.replace(old, new), source.count(old)
            assert found, f"the solution changed: {old!r} is no longer in it"
        return self.before + source


@dataclass(frozen=True)
class Mistake:
    """A wrong answer that the test cells ``tests`` (default: the task's first) must fail: in
    their visible part, or only in the hidden tests if ``hidden``; with a message matching
    ``match`` (a regular expression) if given."""

    answer: object
    hidden: bool = False
    match: str | None = None
    tests: tuple = ()


def hidden(answer, **options) -> Mistake:
    """A mistake that only the hidden tests catch: the visible ones pass it."""
    return Mistake(answer, hidden=True, **options)


def variants(answer: str, **defaults):
    """A function writing ``answer`` with its ``{fields}`` filled: ``defaults`` unless given."""
    return lambda **changes: answer.format(**(defaults | changes))


def block(index: int, body: str) -> list:
    """An answer to the ``index``-th solution block of a cell, the others the instructor's."""
    return [None] * index + [body]


@dataclass(frozen=True)
class Task:
    """One solution cell: its test cells with their points, and the answers tried on them."""

    tests: dict  # test cell's grade_id: points
    alternatives: dict  # name: answer; the first is the submission that test_autograde grades
    mistakes: dict = field(default_factory=dict)  # name: answer or Mistake
    reuse: dict = field(default_factory=dict)  # name: answer or Mistake (message: course_utils)
    then: tuple = ()  # cells run after the answer, before its tests (a student's error there is kept)


def as_mistake(answer, match=None) -> Mistake:
    """A table's row as a :class:`Mistake`, expecting ``match`` unless it names its own."""
    mistake = answer if isinstance(answer, Mistake) else Mistake(answer)
    return mistake if mistake.match or not match else replace(mistake, match=match)


class Session:
    """A chapter's kernel, run to the exercise once, on which answers are tried and undone."""

    def __init__(self, exercise, kernel: ChapterKernel):
        self.exercise, self.kernel, self.position = exercise, kernel, 0
        self.printed = {}  # test cell: what it printed when it last passed

    def reach(self, grade):
        """Run the code cells before ``grade`` that have not run yet."""
        cells = self.kernel.code_cells
        stop = next(i for i, cell in enumerate(cells) if grade_id(cell) == grade)
        for cell in cells[self.position : stop]:
            self.kernel.run(cell.source)
        self.position = max(self.position, stop)

    def run_cell(self, grade, source=None):
        """Run cell ``grade`` (or ``source`` in its place); if it came next and ran whole, move past."""
        cells, whole = self.kernel.code_cells, source is None or source == self.kernel.cell(grade)
        printed = self.kernel.run(self.kernel.cell(grade) if source is None else source)
        if whole and self.position < len(cells) and grade_id(cells[self.position]) == grade:
            self.position += 1
        return printed

    def failure(self, tests, hidden=True) -> CellFailed | None:
        """How test cell ``tests`` fails (None if it passes), hidden tests included if ``hidden``."""
        if self.exercise.reset:
            self.kernel.run(self.exercise.reset)
        source = self.kernel.cell(tests)
        try:
            self.printed[tests] = self.run_cell(tests, source if hidden else HIDDEN.sub("", source))
        except CellFailed as error:
            return error
        return None

    def define(self, solution, answer):
        """Run solution cell ``solution`` with ``answer`` in it, then the task's ``then`` cells."""
        source = self.kernel.cell(solution)
        if isinstance(answer, Cell):
            source = answer.source
        elif isinstance(answer, Edit):
            source = answer.apply(source)
        else:
            source = with_answers(source, answer)
        self.kernel.run(source)
        for cell in self.exercise.tasks[solution].then:
            try:
                self.kernel.run_cell(cell)
            except CellFailed:  # the student sees the error there; the tests judge the rest
                pass

    @contextmanager
    def answered(self, solution, answer):
        """Within the block, ``solution`` holds ``answer``; the instructor's returns after it."""
        self.reach(solution)
        try:
            self.define(solution, answer)
            yield self
        finally:
            if self.exercise.reset:
                self.kernel.run(self.exercise.reset)
            self.kernel.run_cell(solution)


def caught(session, name, mistake, tests):
    """Assert that each test cell fails ``mistake`` where the table says, as it says."""
    for cell in mistake.tests or tests[:1]:
        seen = session.failure(cell, hidden=False)
        if mistake.hidden:
            assert seen is None, f"the visible part of {cell} catches {name!r}: mark it visible"
            seen = session.failure(cell)
            assert seen, f"{cell}, hidden tests included, passes the mistake {name!r}"
        else:
            assert seen, f"the visible part of {cell} passes the mistake {name!r}"
        message = f"{seen.ename}: {seen.evalue}"
        if os.environ.get("EXERCISE_MESSAGES"):  # a file to list each mistake's message in
            with open(os.environ["EXERCISE_MESSAGES"], "a") as log:
                log.write(f"{name}\t{cell}\t{message.splitlines()[0] if message else ''}\n")
        assert mistake.match or seen.ename not in BROKEN, f"the row {name!r} is broken: {message}"
        assert not mistake.match or re.search(mistake.match, message), (
            f"{cell} fails {name!r} with {message!r}, not a message matching {mistake.match!r}"
        )


@dataclass(frozen=True)
class Exercise:
    """A chapter's exercise: its solution cells' tasks, in the notebook's order."""

    chapter: str
    tasks: dict  # solution cell's grade_id: Task
    start: str | None = None  # the kernel first runs the chapter to here (default: the first task)
    setup: str = ""  # code run once there
    reset: str = ""  # code run before each test cell and after each case (undoes in-place damage)
    no_hidden_tests: tuple = ()  # test cells that have no hidden part
    total: float = 10

    @property
    def written_differently(self) -> dict:
        """Each solution cell's first alternative: one submission, that test_autograde grades
        (so each is a body or a list of bodies, for ``with_answers``)."""
        answers = {cell: [*task.alternatives.values()][0] for cell, task in self.tasks.items()}
        assert all(isinstance(answer, str | list) for answer in answers.values()), answers
        return answers

    def cases(self, table) -> list:
        """``(solution cell, name)`` of every row of ``table`` (alternatives, mistakes, reuse)."""
        rows = [(cell, name) for cell, task in self.tasks.items() for name in getattr(task, table)]
        names = [name for _, name in rows]
        assert len(set(names)) == len(names), f"{self.chapter}: a {table} name is used twice"
        return [pytest.param(cell, name, id=name) for cell, name in rows]

    def checks(self) -> dict:
        """The fixture ``chapter`` and the tests, by name: ``globals().update(EXERCISE.checks())``
        in the chapter's test module."""
        exercise, tasks = self, self.tasks

        @pytest.fixture(scope="module", name="chapter")
        def chapter():
            with ChapterKernel(exercise.chapter) as kernel:
                session = Session(exercise, kernel)
                session.reach(exercise.start or next(iter(tasks)))
                if exercise.setup:
                    kernel.run(exercise.setup)
                yield session

        def test_points_add_up():
            notebook = nbformat.read(CHAPTERS / f"{exercise.chapter}.ipynb", as_version=4)
            solutions = [
                grade_id(c)
                for c in notebook.cells
                if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
            ]
            assert solutions == list(tasks), "the tables' tasks are not the notebook's solutions"
            points = {cell: p for task in tasks.values() for cell, p in task.tests.items()}
            assert points_of(notebook) == points, "the tables' points are not the notebook's"
            assert sum(points.values()) == exercise.total

        def test_solutions_pass(chapter):
            for solution, task in tasks.items():
                chapter.reach(solution)
                chapter.run_cell(solution)
                for cell in task.then:
                    chapter.run_cell(cell)
                for tests in task.tests:
                    failed = chapter.failure(tests)
                    assert failed is None, f"{tests} fails the instructor's solution: {failed}"
                    source = chapter.kernel.cell(tests)
                    assert HIDDEN.search(source) or tests in exercise.no_hidden_tests, tests
                    said = "All tests passed." in chapter.printed[tests]
                    assert said or "All tests passed." not in source, f"{tests} did not finish"

        def test_written_differently_passes(chapter):
            answers = exercise.written_differently
            try:
                for solution, answer in answers.items():
                    chapter.reach(solution)
                    chapter.define(solution, answer)
                for tests in (cell for task in tasks.values() for cell in task.tests):
                    failed = chapter.failure(tests)
                    assert failed is None, f"{tests} fails the alternatives together: {failed}"
            finally:
                for solution in answers:
                    chapter.kernel.run_cell(solution)

        @pytest.mark.parametrize("solution, name", self.cases("alternatives"))
        def test_alternative_passes(chapter, solution, name):
            with chapter.answered(solution, tasks[solution].alternatives[name]):
                for tests in tasks[solution].tests:
                    failed = chapter.failure(tests)
                    assert failed is None, f"{tests} fails the correct answer {name!r}: {failed}"

        @pytest.mark.parametrize("solution, name", self.cases("mistakes"))
        def test_mistake_fails(chapter, solution, name):
            task = tasks[solution]
            mistake = as_mistake(task.mistakes[name])
            with chapter.answered(solution, mistake.answer):
                caught(chapter, name, mistake, list(task.tests))

        @pytest.mark.parametrize("solution, name", self.cases("reuse"))
        def test_reusing_the_library_fails(chapter, solution, name):
            task = tasks[solution]
            mistake = as_mistake(task.reuse[name], match=LIBRARY)
            with chapter.answered(solution, mistake.answer):
                caught(chapter, name, mistake, list(task.tests))

        tests = (
            test_points_add_up,
            test_solutions_pass,
            test_written_differently_passes,
            test_alternative_passes,
            test_mistake_fails,
            test_reusing_the_library_fails,
        )
        return {"chapter": chapter} | {test.__name__: test for test in tests}
