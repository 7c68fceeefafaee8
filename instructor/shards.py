"""A class graded in shards on several machines (a GitHub Actions matrix, a Slurm array), joined.

Shard i of n grades its slice of the class (``make autograde SHARD=i/n``) with its own copy of the
release's gradebook, and hands back ``grades/chN.shard-i-of-n.csv`` (its grades) and
``grades/chN.shard-i-of-n.db`` (that gradebook), with ``feedback/`` and ``autograded/``.
``merge_shards`` checks that all n came back, joins the grade tables into ``grades/chN.csv`` and
copies each shard's submissions into the course's ``gradebook.db``, so that the class report and
nbgrader's formgrader see the whole class, as if it had been graded on one machine.
"""

import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning

from instructor.api import nbgrader_api
from instructor.course import Chapter
from instructor.results import merge, output_name, read_table


def shard_files(chapter: Chapter, count: int, course_root: Path) -> list[tuple[Path, Path]]:
    """The grade table and gradebook that each of ``count`` shards hands back."""
    names = [output_name(chapter, (index, count), None) for index in range(1, count + 1)]
    return [
        (course_root / "grades" / f"{n}.csv", course_root / "grades" / f"{n}.db") for n in names
    ]


def merge_shards(chapter: Chapter, count: int, course_root: Path) -> int:
    """Join the ``count`` shards of ``chapter`` into ``grades/chN.csv`` and ``gradebook.db``."""
    if count < 1:
        raise SystemExit(f"SHARDS={count}: say how many shards the class was graded in, >= 1")
    files = shard_files(chapter, count, course_root)
    missing = [str(p.relative_to(course_root)) for pair in files for p in pair if not p.exists()]
    if missing:
        raise SystemExit(
            f"{len(missing)} file(s) of the {count} shards of {chapter.assignment} did not come "
            f"back: {', '.join(missing)}.\nGrade those shards again (make autograde "
            f"CHAPTER={chapter.number} SHARD=i/{count}) and bring back their grades/ files."
        )
    merged = merge(
        [table for table, _ in files], course_root / "grades" / f"{chapter.assignment}.csv"
    )
    gradebook = course_root / "gradebook.db"
    if not gradebook.exists():
        raise SystemExit(f"no {gradebook}: run `make release` (with the REF you released) first")
    course_id = nbgrader_api(course_root).coursedir.course_id
    for table, shard in files:
        merge_gradebook(shard, gradebook, chapter.assignment, students(table), course_id)
    return merged


def students(table: Path) -> list[str]:
    return [row["student"] for row in read_table(table)[1]]


def merge_gradebook(shard: Path, into: Path, assignment: str, graded: list[str], course_id: str):
    """Copy the submissions of ``assignment`` by the ``graded`` students from ``shard`` into ``into``.

    Both gradebooks must hold the same release of the assignment (the same cells and checksums);
    a student's earlier submission in ``into`` is replaced.
    """
    with Gradebook(f"sqlite:///{shard}", course_id) as source:
        with Gradebook(f"sqlite:///{into}", course_id) as target:
            if definition(source, assignment, shard) != definition(target, assignment, into):
                raise SystemExit(
                    f"{shard} was graded against another release of {assignment} than {into} "
                    "(its cells or their checksums differ): make both gradebooks with `make "
                    "release` at the same commit and REF"
                )
            for student in graded:
                try:
                    submission = source.find_submission(assignment, student)
                except MissingEntry:  # not graded at all: the grade table says why
                    continue
                copy_submission(submission, target)


def definition(gradebook: Gradebook, assignment: str, path: Path) -> set[tuple]:
    """What grading compares a submission with: each notebook's cells, points and checksums."""
    try:
        notebooks = gradebook.find_assignment(assignment).notebooks
    except MissingEntry:
        raise SystemExit(
            f"{path} has no assignment {assignment}: not a gradebook of its release"
        ) from None
    cells = [(nb.name, c) for nb in notebooks for c in [*nb.source_cells, *nb.grade_cells]]
    return {
        (name, c.name, getattr(c, "checksum", None), getattr(c, "max_score", None))
        for name, c in cells
    }


def copy_submission(submission, target: Gradebook) -> None:
    """``submission`` (from another gradebook), with its grades and comments, into ``target``."""
    assignment, student = submission.assignment.name, submission.student
    copy_columns(student, target.update_or_create_student(student.id))
    try:
        target.remove_submission(assignment, student.id)
    except MissingEntry:
        pass
    with warnings.catch_warnings():  # nbgrader's own autoflush warnings: nothing is lost
        warnings.simplefilter("ignore", SAWarning)
        copy = target.add_submission(assignment, student.id)
    copy_columns(submission, copy)
    for notebook in submission.notebooks:
        copied = target.find_submission_notebook(notebook.name, assignment, student.id)
        copy_columns(notebook, copied)
        grades = {grade.name: grade for grade in copied.grades}
        comments = {comment.name: comment for comment in copied.comments}
        for grade in notebook.grades:
            copy_columns(grade, grades[grade.name])
        for comment in notebook.comments:
            copy_columns(comment, comments[comment.name])
    target.db.commit()


def copy_columns(source, target) -> None:
    """Every value of ``source``'s row but its keys (ids, links to other rows) onto ``target``."""
    for column in type(source).__table__.columns:
        if not column.primary_key and not column.foreign_keys:
            setattr(target, column.key, getattr(source, column.key))
