"""Written answers are graded by hand: a manual score given through nbgrader's gradebook (what
formgrader writes) counts in the gradebook's total and in the grades table of ``make autograde``."""

import csv

import pytest
from nbgrader.api import Gradebook
from submissions import FIXTURE, edit, released, solved, submit

from instructor.api import nbgrader_api
from instructor.grading import autograde

pytestmark = pytest.mark.slow

ANSWER = "ch0-think"
STUDENT = "ann"


def totals(path):
    """The written answer's points, the score and the maximum in a grades table, for STUDENT."""
    with path.open() as handle:
        [row] = [row for row in csv.DictReader(handle) if row["student"] == STUDENT]
    return float(row[ANSWER]), float(row["score"]), float(row["max_score"])


def test_a_manual_score_for_a_written_answer_counts_in_the_gradebook_and_the_grades(tmp_path):
    root = released([FIXTURE], tmp_path)
    written = "Every second position is skipped, so half as many windows fit."
    submit(root, FIXTURE, STUDENT, edit(solved(root, FIXTURE), ANSWER, written))
    [result] = autograde(FIXTURE, root, timeout=60, quiet=True)
    assert result.points == {"ch0-output-size-tests": 2, "ch0-flip-tests": 3, ANSWER: 0}
    assert result.max_points == {"ch0-output-size-tests": 2, "ch0-flip-tests": 3, ANSWER: 1}
    assert totals(root / "grades" / "ch0.csv") == (0, 5, 6)

    # what formgrader does when the instructor gives the written answer its point
    db_url = nbgrader_api(root).coursedir.db_url
    with Gradebook(db_url) as gradebook:
        grade = gradebook.find_grade(ANSWER, FIXTURE.stem, "ch0", STUDENT)
        assert grade.needs_manual_grade and grade.max_score == 1
        grade.manual_score = 1
        gradebook.db.commit()
        assert gradebook.find_submission("ch0", STUDENT).score == 6

    # grading again keeps the manual score, and the grades table adds it
    [regraded] = autograde(FIXTURE, root, timeout=60, students=[STUDENT], quiet=True)
    assert regraded.points[ANSWER] == 1 and regraded.score == 6
    assert totals(root / "grades" / "ch0.students.csv") == (1, 6, 6)
    with Gradebook(db_url) as gradebook:
        assert gradebook.find_submission("ch0", STUDENT).score == 6
