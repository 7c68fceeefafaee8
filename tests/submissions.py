"""Helpers for the release and autograding tests: released courses and student submissions."""

import shutil
from pathlib import Path

import nbformat

from instructor.cells import RELEASE, SUBMITTED, answered, chapter_notebook, grade_id
from instructor.course import Chapter
from instructor.release import release

FIXTURE = Chapter(Path(__file__).parent / "fixtures" / "00_exercise.ipynb")


def released(chapters, course_root: Path, ref="0123456789abcdef") -> Path:
    """A course root in which ``chapters`` have been released with the repository's nbgrader config."""
    release(chapters, course_root, ref=ref)
    return course_root


def student_version(course_root: Path, chapter: Chapter):
    return nbformat.read(chapter_notebook(course_root, RELEASE, chapter), 4)


def solved(course_root: Path, chapter: Chapter, only=None):
    """The student version with the instructor's answers in its solution cells (or only in ``only``)."""
    return answered(student_version(course_root, chapter), nbformat.read(chapter.path, 4), only)


def edit(notebook, cell_id, source):
    """``notebook`` with the source of the cell ``cell_id`` replaced."""
    notebook = nbformat.from_dict(notebook)
    [cell] = [c for c in notebook.cells if grade_id(c) == cell_id]
    cell.source = source
    return notebook


def delete(notebook, *cell_ids):
    notebook = nbformat.from_dict(notebook)
    notebook.cells = [c for c in notebook.cells if grade_id(c) not in cell_ids]
    return notebook


def submit(course_root: Path, chapter: Chapter, student: str, notebook) -> Path:
    """Put a submission where nbgrader looks for it: ``submitted/<student>/chN/<notebook>``."""
    path = chapter_notebook(course_root, SUBMITTED, chapter, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, str):
        path.write_text(notebook)
    else:
        nbformat.write(notebook, path)
    return path


def copy_course(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
