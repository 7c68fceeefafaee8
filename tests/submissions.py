"""Helpers for the release and autograding tests: released courses and student submissions."""

import shutil
from pathlib import Path

import nbformat

from instructor.course import Chapter
from instructor.release import release

FIXTURE = Chapter(Path(__file__).parent / "fixtures" / "00_exercise.ipynb")


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def released(chapters, course_root: Path, ref="0123456789abcdef") -> Path:
    """A course root in which ``chapters`` have been released with the repository's nbgrader config."""
    release(chapters, course_root, ref=ref)
    return course_root


def student_version(course_root: Path, chapter: Chapter):
    return nbformat.read(course_root / "release" / chapter.assignment / chapter.path.name, 4)


def solved(course_root: Path, chapter: Chapter, only=None):
    """The student version with the instructor's answers in its solution cells (or only in ``only``)."""
    answers = {grade_id(c): c.source for c in nbformat.read(chapter.path, 4).cells}
    notebook = student_version(course_root, chapter)
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if (
            meta.get("solution")
            and cell.cell_type == "code"
            and (only is None or grade_id(cell) in only)
        ):
            cell.source = answers[grade_id(cell)]
    return notebook


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
    folder = course_root / "submitted" / student / chapter.assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / chapter.path.name
    if isinstance(notebook, str):
        path.write_text(notebook)
    else:
        nbformat.write(notebook, path)
    return path


def graded_points(chapter: Chapter) -> dict[str, float]:
    """Points of every autograded test cell of a chapter, by grade_id."""
    meta = [c.metadata.get("nbgrader", {}) for c in nbformat.read(chapter.path, 4).cells]
    return {m["grade_id"]: m["points"] for m in meta if m.get("grade") and not m.get("solution")}


def copy_course(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
