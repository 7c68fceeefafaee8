"""Two steps that ``nbgrader_config.py`` adds to nbgrader's ``generate_assignment``.

- ``CourseSetupCell`` opens every student notebook with a cell that makes ``course_utils``
  importable: nothing to do where it is installed, ``pip install`` from the repository pinned to the
  released commit in Colab (or wherever ``COURSE_INSTALL=1``), a short message anywhere else.
- ``WrittenAnswers`` checks that every written answer (a markdown solution cell holding the model
  answer, as CONTRIBUTING.md has it) is graded by hand and worth points; nbgrader then replaces it
  with its stub, and the instructor grades the students' answers in formgrader.
- ``LockTeachingCells`` marks every other code cell read-only, so that ``nbgrader autograde``
  restores it from the gradebook: grading depends on nothing a student wrote outside solution cells.

And one for ``autograde``: ``RestoreCells`` is nbgrader's ``OverwriteCells`` that puts back every
deleted read-only cell (nbgrader's own puts back test cells only, and fails when the cell before
one is read-only).
"""

import nbformat
from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import NbGraderPreprocessor, OverwriteCells
from traitlets import Unicode, default

from instructor.course import ROOT, current_ref, repository_url

SETUP_SOURCE = """\
# Set-up: make the course library, course_utils, importable wherever this notebook runs.
import importlib.util
import os
import subprocess
import sys

COURSE_REPOSITORY = "{repository}"
COURSE_REF = "{ref}"  # the commit these notebooks were released from
COURSE_PACKAGE = f"course-utils @ git+{{COURSE_REPOSITORY}}@{{COURSE_REF}}"


class SetUpNeeded(ModuleNotFoundError):
    def _render_traceback_(self):  # Jupyter shows the message alone, not a traceback
        return [str(self)]


if importlib.util.find_spec("course_utils") is None:
    if "google.colab" in sys.modules or os.environ.get("COURSE_INSTALL") == "1":
        pip = [sys.executable, "-m", "pip", "install", "--quiet", COURSE_PACKAGE]
        result = subprocess.run(pip, capture_output=True, text=True)
        if result.returncode != 0:
            raise SetUpNeeded(
                f"Installing the course library failed:\\n{{result.stderr[-1500:]}}\\n"
                "Check the internet connection and run this cell again."
            )
        importlib.invalidate_caches()
    else:
        raise SetUpNeeded(
            "This notebook needs the course library, course_utils. Install it with\\n"
            f"    pip install '{{COURSE_PACKAGE}}'\\n"
            "and run this cell again, or open the notebook from the course website with the "
            "Binder or Colab button."
        )
"""


def readonly(grade_id: str) -> dict:
    """nbgrader metadata of a read-only cell."""
    return {
        "grade": False,
        "solution": False,
        "locked": True,
        "task": False,
        "grade_id": grade_id,
        "schema_version": 3,
    }


class CourseSetupCell(NbGraderPreprocessor):
    """Insert the set-up cell (read-only, ``chN-setup``) at the top of the notebook."""

    repository = Unicode(help="Repository that Colab installs course_utils from.").tag(config=True)
    ref = Unicode(help="Tag or commit that Colab installs course_utils at.").tag(config=True)

    @default("repository")
    def _repository(self):
        return repository_url(ROOT)

    @default("ref")
    def _ref(self):
        return current_ref(ROOT)

    def preprocess(self, nb, resources):
        assignment = resources["nbgrader"]["assignment"]
        source = SETUP_SOURCE.format(repository=self.repository, ref=self.ref)
        cell = new_code_cell(source, metadata={"nbgrader": readonly(f"{assignment}-setup")})
        nb.cells.insert(0, cell)
        return nb, resources


class WrittenAnswers(NbGraderPreprocessor):
    """Refuse a written answer (markdown solution cell) that is not graded by hand with points."""

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "markdown" or not meta.get("solution"):
                continue
            if not meta.get("grade") or not meta.get("points", 0) > 0:
                raise ValueError(
                    f"written answer {meta.get('grade_id')!r} has grade: {meta.get('grade')}, "
                    f"points: {meta.get('points')}: a written answer is graded by hand, so give "
                    "its cell grade: true and points: 1 to 3 (CONTRIBUTING.md, written answers)"
                )
        return nb, resources


class LockTeachingCells(NbGraderPreprocessor):
    """Make each code cell without nbgrader metadata read-only, as ``chN-code-K``."""

    def preprocess(self, nb, resources):
        assignment = resources["nbgrader"]["assignment"]
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and "nbgrader" not in cell.metadata:
                cell.metadata["nbgrader"] = readonly(f"{assignment}-code-{index}")
        return nb, resources


class RestoreCells(OverwriteCells):
    """``OverwriteCells`` that puts back every deleted read-only cell, not only test cells, each
    after the nearest earlier cell still there (nbgrader's own fails when that cell is read-only)."""

    @staticmethod
    def restorable(source_notebook) -> list:
        """The gradebook's cells that come back when deleted, in order: read-only and graded ones."""
        graded = {cell.name for cell in source_notebook.grade_cells}
        return [c for c in source_notebook.source_cells if c.locked or c.name in graded]

    def add_missing_grade_cells(self, nb, resources):
        """Put back each missing restorable cell but task cells (nbgrader's next step, at the end)."""
        source = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source.source_cells]
        tasks = {cell.name for cell in source.task_cells}
        for source_cell in self.restorable(source):
            present = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]
            if source_cell.name in present or source_cell.name in tasks:
                continue
            self.log.warning("Missing cell %s encountered, adding to notebook", source_cell.name)
            before = order[: order.index(source_cell.name)]
            anchors = [present.index(name) for name in before if name in present]
            position = max(anchors) + 1 if anchors else 0
            nb.cells.insert(position, self.restored(source, source_cell))
        return nb, resources

    def restored(self, source_notebook, source_cell):
        """The cell as nbgrader restores a grade cell; a read-only cell keeps no grade."""
        grades = {cell.name: cell for cell in source_notebook.grade_cells}
        if source_cell.name in grades:
            solutions = {cell.name for cell in source_notebook.solution_cells}
            return self.missing_cell_transform(
                source_cell,
                grades[source_cell.name].max_score,
                is_solution=source_cell.name in solutions,
            )
        cell = self.missing_cell_transform(source_cell, 0)
        meta = cell["metadata"]["nbgrader"]  # plain dicts inside, not NotebookNodes
        del meta["points"]
        meta["grade"] = False
        return nbformat.from_dict(cell)
