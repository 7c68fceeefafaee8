"""The class report (instructor/report.py) of a graded test class, its values and its page.

One class of the test chapter (tests/fixtures/00_exercise.ipynb: 2 + 3 points) is graded as
`make autograde` grades it: honest students (full, partial, blank), careless ones (a wrong answer,
an endless loop, a syntax error, a notebook that is not JSON), one that rebinds ``torch.equal``
(tests/test_sandbox.py's cheat) and one whose error message is HTML. Then, as in formgrader, the
instructor gives the endless loop 1.5 of the flip test's 3 points, and the report is written again.
The page is checked in headless Chromium with tests/test_browser.py's browser, host and axe audit.
"""

import csv

import pytest
from bs4 import BeautifulSoup
from nbgrader.api import Gradebook
from submissions import FIXTURE, edit, released, solved, submit
from test_autograde import TIMEOUT, fixture_batch
from test_browser import (  # noqa: F401 (fixtures: the browser, and a host for `fast_site`)
    ARTEFACTS,
    PAGE_FACTS,
    Reader,
    _blocking,
    chromium,
    host,
    site_url,
)
from test_sandbox import CHEAT

from instructor import report
from instructor.__main__ import main
from instructor.grading import autograde

MARKUP = "<img src=x onerror=alert(1)> flips <b>nothing</b>"
HONEST_AND_CARELESS = ["full", "partial", "blank", "endless-loop", "syntax-error"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The graded class: its course root, the report autograde wrote, and the one written after
    the manual grade."""
    root = released([FIXTURE], tmp_path_factory.mktemp("course"))
    batch = fixture_batch(root)
    full = solved(root, FIXTURE)
    wrong = {
        "wrong-flip": edit(full, "ch0-flip", "def flip(kernel):\n    return kernel"),
        "rebind": edit(full, "ch0-flip", CHEAT),
        "markup": edit(full, "ch0-flip", f"def flip(kernel):\n    raise ValueError({MARKUP!r})"),
    }
    for student in HONEST_AND_CARELESS:
        submit(root, FIXTURE, student, batch[student][0])
    for student, notebook in wrong.items():
        submit(root, FIXTURE, student, notebook)
    submit(root, FIXTURE, "not-json", "{ this is not a notebook")
    autograde(FIXTURE, root, timeout=TIMEOUT, jobs=2)
    page = root / "grades" / "ch0.report.html"
    after_grading = page.read_text()
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade("ch0-flip-tests", "00_exercise", "ch0", "endless-loop")
        grade.manual_score = 1.5
        gradebook.db.commit()
    assert report.write(FIXTURE, root) == page
    return root, after_grading, BeautifulSoup(page.read_text(), "html.parser")


def rows(page, caption):
    """The body rows of the table with this caption, as lists of cell texts."""
    [table] = [t for t in page.find_all("table") if t.caption.get_text().startswith(caption)]
    return [
        [" ".join(cell.get_text().split()) for cell in row.find_all(["th", "td"])]
        for row in table.tbody.find_all("tr")
    ]


@pytest.mark.slow
def test_autograde_writes_the_report(graded):
    _, after_grading, _ = graded
    page = BeautifulSoup(after_grading, "html.parser")
    flip = dict((r[0], r[2:]) for r in rows(page, "Graded students per test cell"))
    # before the manual grade
    assert flip["ch0-flip-tests"] == ["2 (25%)", "0 (0%)", "6 (75%)", "0 (0%)"]


@pytest.mark.slow
def test_summary_and_score_distribution(graded):
    page = graded[2]
    summary = " ".join(page.find("main").p.get_text().split())
    # scores 5, 3, 0, 2 + 1.5 (manual), 2, 2, 2, 2: the not-JSON notebook is not graded
    assert "9 submissions, 8 graded, mean score 2.44 and median 2 of 6" in summary
    assert "1 flagged for review" in summary
    histogram = page.find(id="scores").find_next("img")
    assert histogram["src"].startswith("data:image/png;base64,")
    assert "8 graded students, out of 6 points: mean 2.44, median 2." in " ".join(
        histogram["alt"].split()
    )


@pytest.mark.slow
def test_full_partial_and_zero_scores_per_test_cell(graded):
    root, _, page = graded
    assert rows(page, "Graded students per test cell") == [
        ["ch0-output-size-tests", "2", "6 (75%)", "0 (0%)", "2 (25%)", "0 (0%)"],
        # 12.5 and 62.5, rounded even
        ["ch0-flip-tests", "3", "2 (25%)", "1 (12%)", "5 (62%)", "0 (0%)"],
        # the written answer: nobody has graded it by hand yet, so it is not counted as zero
        ["ch0-think", "1", "0 (0%)", "0 (0%)", "0 (0%)", "8 (100%)"],
    ]
    submissions = report.load(
        FIXTURE, root / "grades" / "ch0.csv", f"sqlite:///{root}/gradebook.db"
    )
    shares = report.outcomes(submissions, ["ch0-flip-tests", "ch0-think"])
    assert shares["ch0-flip-tests"] == {
        "full": ["full", "partial"],
        "partial": ["endless-loop"],
        "zero": ["blank", "markup", "rebind", "syntax-error", "wrong-flip"],
        "not graded yet": [],
    }
    assert len(shares["ch0-think"]["not graded yet"]) == 8
    # once graded by hand, a written answer's 0 is a zero
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        assert report.not_graded_yet(gradebook, FIXTURE, "blank") == {"ch0-think"}
        gradebook.find_grade("ch0-think", "00_exercise", "ch0", "blank").manual_score = 0
        gradebook.db.commit()
        assert report.not_graded_yet(gradebook, FIXTURE, "blank") == set()
        gradebook.find_grade("ch0-think", "00_exercise", "ch0", "blank").manual_score = None
        gradebook.db.commit()  # as it was, for the other tests of this class
    bars = page.find(id="tests").find_next("img")
    assert "ch0-flip-tests 25% full, 12% partial, 62% zero, 0% not graded yet;" in " ".join(
        bars["alt"].split()
    )


@pytest.mark.slow
def test_failure_messages_are_grouped_and_ranked_with_their_students(graded):
    assert rows(graded[2], "Why test cells failed") == [
        [
            "2",
            "ch0-output-size-tests",
            "NotImplementedError",
            'at assert output_size(28, 3) == 26, "a 3-wide kernel loses one pixel on each side"',
            "blank, partial",
        ],
        [
            "2",
            "ch0-flip-tests",
            "AssertionError",
            "turn the kernel by 180 degrees",
            "rebind, wrong-flip",
        ],
        [
            "2",
            "ch0-flip-tests",
            "NameError",
            "name 'flip' is not defined",
            "endless-loop, syntax-error",
        ],
        [
            "1",
            "ch0-flip-tests",
            "NotImplementedError",
            "at assert torch.equal(flip(k)[0], torch.tensor([8.0, 7.0, 6.0])), "
            '"turn the kernel by 180 degrees"',
            "blank",
        ],
        ["1", "ch0-flip-tests", "ValueError", MARKUP, "markup"],
    ]


@pytest.mark.slow
def test_problems_flags_and_grading_time_per_submission(graded):
    root, _, page = graded
    kinds = [
        " ".join(li.get_text().split()) for li in page.find(id="submissions").find_next("ul")("li")
    ]
    assert kinds == [
        "a cell raised an error: 7 (blank, endless-loop, markup, partial, rebind, syntax-error, "
        "wrong-flip)",
        "missing or unreadable notebook: 1 (not-json)",
        "not graded: 1 (not-json)",
        "timeout: 1 (endless-loop)",
    ]
    table = {row[0]: row[1:] for row in rows(page, "Every submission")}
    with (root / "grades" / "ch0.csv").open() as handle:
        graded_rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(table) == set(graded_rows)
    assert {s: table[s][1] for s in table} == {s: r["seconds"] for s, r in graded_rows.items()}
    assert table["endless-loop"][0] == "3.5"  # the gradebook's points: the manual grade counts
    assert table["not-json"][0] == "not graded"
    assert "unreadable notebook" in table["not-json"][2]
    assert "ch0-flip: rebinds t.equal (torch)" in table["rebind"][3]
    assert "rebound at run time (restored for the tests): torch.equal" in table["rebind"][3]
    assert [s for s, row in table.items() if row[3]] == ["rebind"]


@pytest.mark.slow
def test_slowest_and_least_reliable_cells(graded):
    page = graded[2]
    slowest = {row[0]: row[1:] for row in rows(page, "Slowest code cells")}
    assert {"ch0-setup", "ch0-flip", "ch0-flip-tests"} <= set(slowest)
    assert all(row[2] == "8" for row in slowest.values())  # one run per executed notebook
    assert float(slowest["ch0-flip"][1]) >= TIMEOUT - 0.5  # the endless loop ran until stopped
    assert rows(page, "Cells that raised most often") == [
        [
            "ch0-flip-tests",
            "6 of 8",
            "blank, endless-loop, markup, rebind, syntax-error, wrong-flip",
        ],
        ["ch0-output-size-tests", "2 of 8", "blank, partial"],
        ["ch0-flip", "2 of 8", "endless-loop, syntax-error"],
    ]


def test_messages_that_differ_only_in_numbers_group_together():
    assert report.normalise("(28, 5, 2, 2)") == report.normalise("(7, 3, 2, -1)") == "(#, #, #, #)"
    assert report.normalise("got 0.25 at 0x7f3a\n  here") == "got # at 0x… here"
    assert report.normalise("\x1b[31mname 'flip'\x1b[0m") == "name 'flip'"


@pytest.mark.parametrize(
    ("problem", "kind"),
    [
        ("ch0-flip: CellTimeoutError", "timeout"),
        ("NOT GRADED: nbclient.exceptions.DeadKernelError: Kernel died", "dead kernel"),
        ("ch0-flip: the kernel died (os._exit?)", "dead kernel"),
        (
            "unreadable notebook: Notebook does not appear to be JSON",
            "missing or unreadable notebook",
        ),
        ("no 00_exercise.ipynb in the submission", "missing or unreadable notebook"),
        ("ch0-flip-tests: deleted, restored", "read-only cell edited or deleted"),
        ("NOT GRADED: the grading worker failed", "not graded"),
        ("ch0-flip-tests: AssertionError turn the kernel", "a cell raised an error"),
    ],
)
def test_each_kind_of_problem_is_recognised(problem, kind):
    assert report.kind_of(problem) == kind


def test_a_message_less_error_is_named_by_the_test_line_that_raised():
    traceback = [
        "\x1b[31mAssertionError\x1b[39m Traceback (most recent call last)",
        "Cell In[7], line 2\n      1 k = 1\n\x1b[32m----> \x1b[39m\x1b[32m2\x1b[39m assert k == 2\n",
        "File x.py:3, in f()\n----> 3     raise AssertionError\n",
    ]
    assert report.failing_line({"traceback": traceback}) == "at assert k == 2"


def test_an_ungraded_chapter_says_to_run_autograde_first(tmp_path):
    with pytest.raises(
        SystemExit, match=r"ch0 has not been graded yet .*grades/ch0\.csv.*make autograde CHAPTER=0"
    ):
        report.write(FIXTURE, tmp_path)
    (tmp_path / "grades").mkdir()
    (tmp_path / "grades" / "ch0.csv").write_text("student,score\nann,1\n")
    with pytest.raises(
        SystemExit, match=r"no .*gradebook\.db\): run `make autograde CHAPTER=0` first"
    ):
        report.write(FIXTURE, tmp_path)
    assert not (tmp_path / "gradebook.db").exists()  # looking for it made none


def test_a_grades_table_from_another_gradebook_is_refused(tmp_path):
    (tmp_path / "grades").mkdir()
    (tmp_path / "grades" / "ch0.csv").write_text("student,score\nann,1\n")
    Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}").close()  # an empty one
    with pytest.raises(SystemExit, match="ann is graded in .*ch0.csv but not in the gradebook"):
        report.write(FIXTURE, tmp_path)


def test_make_report_names_the_chapter_and_autograde(tmp_path):
    with pytest.raises(SystemExit, match="make autograde CHAPTER=1"):
        main(["--course", str(tmp_path), "report", "1"])


# The browser: tests/test_browser.py's `host` serves `fast_site`, here the graded class's grades.
@pytest.fixture(scope="module")
def fast_site(graded):
    return graded[0] / "grades"


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_loads_alone_and_is_accessible(chromium, site_url, host):  # noqa: F811
    reader = Reader(chromium, site_url)
    try:
        reader.open("ch0.report.html")
        facts = reader.page.evaluate(PAGE_FACTS)
        scripts = reader.page.evaluate("document.scripts.length")
        markup = reader.page.get_by_text(MARKUP).count()
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        reader.page.set_viewport_size({"width": 1000, "height": 900})
        reader.page.screenshot(path=ARTEFACTS / "report.png", full_page=True)
        violations = reader.audit()
    finally:
        reader.close()
    assert reader.errors == [] and reader.failed == [] and reader.external == []
    assert [r.url.rsplit("/", 1)[-1] for r in reader.finished] == ["ch0.report.html"]
    images = facts["images"]
    assert len(images) == 2 and all(image["loaded"] for image in images)
    assert all(len(image["alt"].strip()) > 40 for image in images)
    assert scripts == 0 and markup >= 1  # the student's HTML is shown as text, never run
    assert _blocking(violations) == []
