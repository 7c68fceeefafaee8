"""Autograding with nbgrader, end to end: real notebooks released, submitted, graded, reported.

The test chapter (tests/fixtures/00_exercise.ipynb: two parts worth 2 and 3 points) takes every
kind of broken submission in one batch, graded as two shards (``SHARD=1/2`` and ``2/2``) whose
grade tables are then merged. Each real chapter is graded, two submissions at once, for a
submission answered differently but correctly (its test file's ``ALTERNATIVES``): full marks; and
for its student version with the test cells deleted
(nbgrader restores them: zero on every test, so no test awards points without an answer). Grading times are printed (run with -s); they are measured, not asserted."""

import contextlib
import csv
import importlib
import io
import re

import nbformat
import pytest
from kernel import with_answers
from submissions import (
    FIXTURE,
    delete,
    edit,
    grade_id,
    released,
    solved,
    student_version,
    submit,
)

from instructor import course
from instructor.__main__ import main
from instructor.cells import autograded_points, written_points
from instructor.feedback import leaks
from instructor.grading import autograde, parse_shard, select, snapshot
from instructor.results import merge
from instructor.tamper import flags as tamper_flags

pytestmark = pytest.mark.slow

#: nbgrader_config.py's per-cell timeout is 60 s; the endless loop need not cost that much here.
TIMEOUT = 10
#: Waits for ever without using the CPU (the single endless loop below spins): the graders' wall-clock
#: timeout treats both alike, and the tests beside this one need the cores.
#: The test chapter's written answer (1 point, graded by hand: tests/test_written_answers.py).
WRITTEN = "ch0-think"
LOOPING = "def {name}(*args, **kwargs):\n    import time\n\n    while True:\n        time.sleep(1)"
#: A correct answer that writes to stderr each time a test calls it: a progress bar, a warning and a
#: log record (nbgrader's own rule gives such a test cell zero).
NOISY = """\
import logging
import sys
import warnings

from tqdm import tqdm

log = logging.getLogger("student")
log.addHandler(logging.StreamHandler(sys.stderr))


def output_size(n, kernel, stride=1, padding=0):
    for _ in tqdm(range(3), desc="thinking hard"):
        pass
    warnings.warn("an honest warning about output_size")
    log.warning("logging an output size to stderr")
    return (n + 2 * padding - kernel) // stride + 1
"""
#: A correct answer that needs the file its student handed in beside the notebook.
OWN_FILE = "one.txt"
READS_OWN_FILE = f"""\
def output_size(n, kernel, stride=1, padding=0):
    with open("{OWN_FILE}") as handle:
        one = int(handle.read())
    return (n + 2 * padding - kernel) // stride + one
"""
#: The same noise on stderr, then an error: the test still scores zero.
NOISY_ERROR = """\
import sys


def flip(kernel):
    print("about to give up", file=sys.stderr)
    raise ValueError("flip is not written yet")
"""


def points(output_size, flip):
    """The points of a submission: its two test cells, and 0 for the written answer (graded by hand)."""
    return {"ch0-output-size-tests": output_size, "ch0-flip-tests": flip, WRITTEN: 0}


def fixture_batch(root):
    """Every kind of submission of the test chapter, with the points each must get."""
    blank = student_version(root, FIXTURE)
    full = solved(root, FIXTURE)
    wrong_stride = (
        "def output_size(n, kernel, stride=1, padding=0):\n    return n + 2 * padding - kernel + 1"
    )
    return {
        "full": (full, points(2, 3)),
        "blank": (blank, points(0, 0)),
        "partial": (solved(root, FIXTURE, only={"ch0-flip"}), points(0, 3)),
        # a test cell edited to pass: nbgrader restores it, and the stub fails it
        "edited-test": (edit(blank, "ch0-output-size-tests", "pass"), points(0, 0)),
        # a helper cell edited so that the hidden tests only try stride 1: restored too
        "edited-helper": (
            edit(
                edit(full, "ch0-code-2", "SIZES = [(28, 3, 1, 0)]"), "ch0-output-size", wrong_stride
            ),
            points(0, 3),
        ),
        "deleted-test": (delete(blank, "ch0-flip-tests"), points(0, 0)),
        # nbgrader's own OverwriteCells fails here: the cell before the deleted test is gone too
        "deleted-part": (delete(full, "ch0-output-size", "ch0-output-size-tests"), points(0, 3)),
        "deleted-solution": (delete(full, "ch0-flip"), points(2, 0)),
        "endless-loop": (edit(full, "ch0-flip", "while True:\n    pass"), points(2, 0)),
        # two test cells call looping functions: the second one only gets the grace budget
        "endless-loops": (
            edit(
                edit(full, "ch0-output-size", LOOPING.format(name="output_size")),
                "ch0-flip",
                LOOPING.format(name="flip"),
            ),
            points(0, 0),
        ),
        "import-error": (
            edit(
                full,
                "ch0-output-size",
                "import course_utils.no_such_module\n" + full.cells[5].source,
            ),
            points(0, 3),
        ),
        "syntax-error": (
            edit(full, "ch0-flip", "def flip(kernel)\n    return kernel"),
            points(2, 0),
        ),
        # stderr output is not an error: full points; an error after it still scores zero
        "stderr": (edit(full, "ch0-output-size", NOISY), points(2, 3)),
        "stderr-and-error": (
            edit(edit(full, "ch0-output-size", NOISY), "ch0-flip", NOISY_ERROR),
            points(2, 0),
        ),
        # every read-only cell that is not a test (set-up, imports, the hidden tests' SIZES) deleted:
        # all restored, so the answers keep their points
        "deleted-helpers": (delete(full, "ch0-setup", "ch0-code-1", "ch0-code-2"), points(2, 3)),
        # the kernel dies in a solution cell: the tests before it keep their points, the later ones
        # score zero, and the submission is graded
        "dead-kernel": (edit(full, "ch0-flip", "import os\n\nos._exit(1)"), points(2, 0)),
        # reads a file handed in beside the notebook (OWN_FILE): the kernel works in a copy of
        # this student's submitted folder, which the grader names for the sandbox
        "own-file": (edit(full, "ch0-output-size", READS_OWN_FILE), points(2, 3)),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = released([FIXTURE], tmp_path_factory.mktemp("course"))
    batch = fixture_batch(root)
    for student, (notebook, _) in batch.items():
        submit(root, FIXTURE, student, notebook)
    submit(root, FIXTURE, "not-json", "{ this is not a notebook")
    (root / "submitted" / "own-file" / FIXTURE.assignment / OWN_FILE).write_text("1\n")
    before = snapshot(root / "submitted")
    results, stderr = [], {}
    # the progress bar: left to decide for itself in the first shard (stderr is no terminal
    # here), forced in the second
    for shard, progress in ((1, None), (2, True)):
        with contextlib.redirect_stderr(io.StringIO()) as captured:
            results += autograde(
                FIXTURE, root, timeout=TIMEOUT, shard=(shard, 2), jobs=2, progress=progress
            )
        stderr[shard] = captured.getvalue()
    shards = sorted((root / "grades").glob("ch0.shard-*-of-2.csv"))
    merge(shards, root / "grades" / "ch0.csv")
    return root, batch, {r.student: r for r in results}, before, stderr


def test_the_fixture_submissions_are_what_they_claim(graded):
    root, batch, *_ = graded
    assert "### BEGIN SOLUTION" in batch["full"][0].cells[5].source
    assert batch["full"][0].cells[5].metadata["nbgrader"]["grade_id"] == "ch0-output-size"
    assert "raise NotImplementedError()" in batch["blank"][0].cells[5].source
    assert nbformat.read(FIXTURE.path, 4).cells[1].source in batch["full"][0].cells[2].source


@pytest.mark.parametrize(
    "student",
    [
        "full",
        "blank",
        "partial",
        "edited-test",
        "edited-helper",
        "deleted-test",
        "deleted-part",
        "deleted-solution",
        "endless-loop",
        "endless-loops",
        "import-error",
        "syntax-error",
        "stderr",
        "stderr-and-error",
        "deleted-helpers",
        "dead-kernel",
    ],
)
def test_each_submission_gets_exactly_its_points(graded, student):
    _, batch, results, *_ = graded
    result, expected = results[student], batch[student][1]
    assert result.graded, result.problems
    assert result.points == expected, result.problems
    assert result.max_points == {"ch0-output-size-tests": 2, "ch0-flip-tests": 3, WRITTEN: 1}


def test_each_submission_records_where_its_grading_time_went(graded):
    """For the bench (bench/run.py): the kernel's start in phases, each code cell, the guard's
    checks and the shutdown, from the graded notebook; nbgrader's autograde and feedback."""
    root, _, results, *_ = graded
    phases = results["full"].phases
    start_up = ("sandbox_copy", "kernel_launch", "guard_imports", "guard_snapshot", "kernel_ready")
    assert set(start_up) <= phases.keys()
    assert phases["kernel_start"] == pytest.approx(sum(phases[p] for p in start_up), abs=0.01)
    assert phases["guard_imports"] > 0 and phases["kernel_launch"] > 0
    cells = {k for k in phases if k.startswith("cell:")}
    assert {"cell:ch0-setup", "cell:ch0-flip", "cell:ch0-flip-tests"} <= cells
    assert "cell:ch0-think" not in cells  # a written answer, not code
    assert phases["guard_checks"] > 0 and phases["kernel_shutdown"] >= 0
    kernel = sum(phases[k] for k in [*cells, "kernel_start", "guard_checks", "kernel_shutdown"])
    assert kernel < phases["autograde"] < results["full"].seconds
    assert 0 < phases["feedback"] < results["full"].seconds - phases["autograde"]
    notebook = nbformat.read(root / "autograded" / "full" / "ch0" / "00_exercise.ipynb", 4)
    recorded = notebook.metadata["course_grading"]["seconds"]
    assert recorded.items() <= phases.items()


def test_the_grader_kills_each_kernel_rather_than_wait_for_it_to_exit():
    """Once the last cell has answered, nothing in the kernel matters to the grade; a kernel that
    imported torch takes over 2.5 s to exit on request, which nbclient would wait for."""
    from instructor.execute import GuardedExecute

    assert GuardedExecute().shutdown_kernel == "immediate"


@pytest.mark.parametrize(
    ("student", "reported"),
    [
        ("edited-test", "ch0-output-size-tests: edited, restored"),
        ("edited-helper", "ch0-code-2: edited, restored"),
        ("deleted-test", "ch0-flip-tests: deleted, restored"),
        ("deleted-part", "ch0-output-size-tests: deleted, restored"),
        ("endless-loop", "ch0-flip: CellTimeoutError"),
        ("endless-loops", "ch0-output-size-tests: CellTimeoutError"),
        ("endless-loops", "ch0-flip-tests: CellTimeoutError"),
        ("import-error", "ch0-output-size: ModuleNotFoundError"),
        ("syntax-error", "ch0-flip: SyntaxError"),
        ("blank", "ch0-flip-tests: NotImplementedError"),
        ("stderr-and-error", "ch0-flip-tests: ValueError flip is not written yet"),
        ("deleted-helpers", "ch0-setup: deleted, restored"),
        ("deleted-helpers", "ch0-code-1: deleted, restored"),
        ("deleted-helpers", "ch0-code-2: deleted, restored"),
        ("dead-kernel", "ch0-flip: DeadKernelError the kernel died while this cell ran"),
        ("dead-kernel", "ch0-flip-tests: DeadKernelError not run: the kernel died in ch0-flip"),
    ],
)
def test_what_broke_is_reported(graded, student, reported):
    assert any(p.startswith(reported) for p in graded[2][student].problems), graded[2][
        student
    ].problems


def test_a_clean_submission_reports_nothing(graded):
    assert graded[2]["full"].problems == []
    assert graded[2]["full"].flags == []


def test_stderr_output_reaches_the_feedback_and_costs_nothing(graded):
    """What the answer wrote to stderr is kept, as ordinary output, where the student reads it."""
    root, results = graded[0], graded[2]
    assert results["stderr"].problems == [] and results["stderr"].flags == []
    path = root / "autograded" / "stderr" / "ch0" / "00_exercise.ipynb"
    [tests] = [c for c in nbformat.read(path, 4).cells if grade_id(c) == "ch0-output-size-tests"]
    streams = [o for o in tests.outputs if o.output_type == "stream"]
    text = "".join(o.text for o in streams)
    for noise in ("thinking hard", "an honest warning", "logging an output size to stderr"):
        assert noise in text
    assert {o.name for o in streams} == {"stdout"}
    page = (root / "feedback" / "stderr" / "ch0" / "00_exercise.html").read_text()
    assert "an honest warning about output_size" in page


def test_a_dead_kernel_is_named_and_the_later_cells_are_not_run(graded):
    root = graded[0]
    path = root / "autograded" / "dead-kernel" / "ch0" / "00_exercise.ipynb"
    notebook = nbformat.read(path, 4)
    assert notebook.metadata["course_grading"]["died_in"] == "ch0-flip"
    assert notebook.metadata["course_grading"]["guard"] == "ok"  # not asked of a dead kernel
    page = (root / "feedback" / "dead-kernel" / "ch0" / "00_exercise.html").read_text()
    assert "the kernel died while this cell ran" in page


def test_the_progress_bar_is_quiet_off_a_terminal_and_counts_down_when_asked(graded):
    """Shard 1 ran with stderr captured (no terminal): no bar. Shard 2 forced it: one bar over its
    submissions, with the time left."""
    root, *_, stderr = graded
    assert "%|" not in stderr[1] and "submission" not in stderr[1]
    shard = (root / "grades" / "ch0.shard-2-of-2.csv").read_text().splitlines()[1:]
    count = len(shard)
    assert f"{count}/{count}" in stderr[2] and "submission" in stderr[2]
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", stderr[2])  # elapsed<left


def test_two_timeouts_cost_one_timeout_and_the_grace(graded):
    root = graded[0]
    path = root / "autograded" / "endless-loops" / "ch0" / "00_exercise.ipynb"
    report = nbformat.read(path, 4).metadata["course_grading"]
    assert report["timeouts"] == 2
    print(f"two endless loops graded in {graded[2]['endless-loops'].seconds:.1f} s")


def test_the_shards_are_disjoint_and_cover_the_class(graded):
    root, _, results, *_ = graded
    first = (root / "grades" / "ch0.shard-1-of-2.csv").read_text().splitlines()[1:]
    second = (root / "grades" / "ch0.shard-2-of-2.csv").read_text().splitlines()[1:]
    students = [row.split(",")[0] for row in first + second]
    assert sorted(students) == sorted(results) and len(set(students)) == len(students)


def test_feedback_shows_results_but_no_hidden_test(graded):
    root = graded[0]
    assert leaks(root, [FIXTURE]) == []
    page = (root / "feedback" / "blank" / "ch0" / "00_exercise.html").read_text()
    assert "NotImplementedError" in page and "hidden tests: their results are below" in page
    autograded = (root / "autograded" / "blank" / "ch0" / "00_exercise.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" in autograded  # what nbgrader would have put in the feedback


def test_an_unreadable_notebook_is_reported_and_the_batch_goes_on(graded):
    _, batch, results, *_ = graded
    assert not results["not-json"].graded
    assert any("unreadable" in p for p in results["not-json"].problems)
    assert set(results) == set(batch) | {"not-json"}


def test_submissions_are_never_modified(graded):
    root, _, _, before, _ = graded
    assert snapshot(root / "submitted") == before


def test_grades_table_and_feedback(graded):
    root, batch, results, *_ = graded
    with (root / "grades" / "ch0.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(results)
    for student, (_, expected) in batch.items():
        row = rows[student]
        assert {cell: float(row[cell]) for cell in expected} == expected
        assert float(row["score"]) == sum(expected.values()) and float(row["max_score"]) == 6
        assert (root / "feedback" / student / "ch0" / "00_exercise.html").exists()
    assert rows["not-json"]["score"] == "" and "unreadable" in rows["not-json"]["problems"]
    for student, result in results.items():
        print(f"autograde time, {student}: {result.seconds:.1f} s")


def test_configured_timeout_is_raised_from_nbgraders_default():
    from nbgrader.preprocessors import Execute

    from instructor.api import nbgrader_api

    configured = nbgrader_api(course.ROOT).config.Execute.timeout
    assert configured > Execute.class_traits()["timeout"].default() == 30


# Real chapters: every chapter with an exercise, found from _toc.yml.
CHAPTERS = course.chapters()


def written_differently(root, chapter):
    """The student version answered with each task's first alternative (tests/test_chapterNN.py)."""
    exercise = importlib.import_module(f"test_chapter{chapter.number:02d}").EXERCISE
    answers = {grade_id(c): c.source for c in nbformat.read(chapter.path, 4).cells}
    notebook, alternative = student_version(root, chapter), exercise.written_differently
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            cell.source = with_answers(answers[grade_id(cell)], alternative[grade_id(cell)])
    return notebook


def read_only_helpers(chapter) -> list[str]:
    """The read-only cells that a chapter's exercise names and that are not tests (test helpers)."""
    meta = [c.metadata.get("nbgrader", {}) for c in nbformat.read(chapter.path, 4).cells]
    return [m["grade_id"] for m in meta if m.get("locked") and not m.get("grade")]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_real_chapter_grades_every_correct_answer_full_and_a_blank_one_zero(chapter, tmp_path):
    """The answer written differently stands for every correct one: the instructor's own solution
    passes the same test cells in test_chapterNN.py, in grading mode, and is not graded again here.
    It is handed in without the exercise's read-only helper cells (chapter 1's and 2's test helpers,
    chapter 4's training cell): they are restored, and cost no points."""
    points = autograded_points(nbformat.read(chapter.path, 4))
    assert len(points) >= 3, f"{chapter.stem} has {len(points)} graded test cells"
    root = released([chapter], tmp_path)
    assert tamper_flags(solved(root, chapter)) == []  # no false alarm on the solution's code
    helpers = read_only_helpers(chapter)
    answered = delete(written_differently(root, chapter), *helpers)
    submit(root, chapter, "written-differently", answered)
    # the untouched student version, its test cells deleted: restored, and no test gives points
    submit(root, chapter, "blank", delete(student_version(root, chapter), *points))
    results = {r.student: r for r in autograde(chapter, root, jobs=2)}
    for student, result in results.items():
        print(f"{chapter.stem}, {student}: {result.score:g} points in {result.seconds:.1f} s")
    written = dict.fromkeys(written_points(nbformat.read(chapter.path, 4)), 0)  # graded by hand
    honest = results["written-differently"]
    assert honest.points == points | written, honest.problems
    assert honest.flags == []  # no false alarm on honest code
    assert [p for p in honest.problems if "deleted" in p] == [
        f"{cell}: deleted, restored" for cell in helpers
    ]
    assert leaks(root, [chapter]) == []
    assert results["blank"].points == dict.fromkeys(points, 0) | written, results["blank"].problems
    assert all(f"{cell}: deleted, restored" in results["blank"].problems for cell in points)


@pytest.mark.parametrize(
    ("shard", "expected"),
    [
        ((1, 3), ["a", "d", "g"]),
        ((2, 3), ["b", "e"]),
        ((3, 3), ["c", "f"]),
        ((1, 1), list("abcdefg")),
    ],
)
def test_a_shard_is_every_nth_student_from_the_ith(shard, expected):
    assert select(list("abcdefg"), shard, None) == expected


def test_shards_and_student_lists_are_checked():
    assert parse_shard(" 2 / 4 ") == (2, 4)
    assert select(list("abc"), None, ["c", "a"]) == ["a", "c"]
    with pytest.raises(SystemExit, match="SHARD='2:4'"):
        parse_shard("2:4")
    with pytest.raises(SystemExit, match="1 <= i <= n"):
        select(list("abc"), (0, 2), None)
    with pytest.raises(SystemExit, match="no submission from zed"):
        select(list("abc"), None, ["zed"])


def test_merge_joins_shards_and_a_later_regrade_wins(tmp_path):
    one, two, regrade = tmp_path / "1.csv", tmp_path / "2.csv", tmp_path / "r.csv"
    one.write_text(
        "student,t1,score,max_score,seconds,sandboxed,problems,flags\nann,1,1,2,3.0,yes,,\n"
    )
    two.write_text(
        "student,t1,score,max_score,seconds,sandboxed,problems,flags\nbob,2,2,2,3.0,yes,,\n"
    )
    regrade.write_text(
        "student,t1,score,max_score,seconds,sandboxed,problems,flags\nann,2,2,2,3.0,yes,,\n"
    )
    assert merge([one, two, regrade], tmp_path / "all.csv") == 2
    (tmp_path / "all.csv").unlink()
    # the command that `make merge-grades CHAPTER=n` runs
    paths = [str(path) for path in (one, two, regrade)]
    assert (
        main([*("--course", str(tmp_path), "merge"), *paths, "-o", str(tmp_path / "all.csv")]) == 0
    )
    with (tmp_path / "all.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["student"], r["score"]) for r in rows] == [("ann", "2"), ("bob", "2")]
    with pytest.raises(SystemExit, match="not a grades file"):
        (tmp_path / "x.csv").write_text("name,score\n")
        merge([tmp_path / "x.csv"], tmp_path / "all.csv")


def test_a_failed_grading_is_summed_up_by_its_real_error_on_one_line():
    from instructor.results import last_line, one_line

    log = (
        "Traceback (most recent call last):\n  File 'x', line 1\n"
        "\x1b[0;31mnbclient.exceptions.DeadKernelError\x1b[0m: Kernel died\n"
        "nbgrader.converters.base.NbGraderException: Please see the above traceback"
    )
    assert last_line(log) == "nbclient.exceptions.DeadKernelError: Kernel died"
    assert one_line(["a\n  b", "\x1b[1mc\x1b[0m"]) == "a b; c"
