"""The steps that ``nbgrader_config.py`` adds to nbgrader's ``generate_assignment`` (the release).

- ``CourseSetupCell`` opens every student notebook with a cell that makes ``course_utils``
  importable: nothing to do where it is installed, ``pip install`` from the repository pinned to the
  released commit in Colab (or wherever ``COURSE_INSTALL=1``), a short message anywhere else.
- ``WrittenAnswers`` checks that every written answer (a markdown solution cell holding the model
  answer, as CONTRIBUTING.md has it) is graded by hand and worth points; nbgrader then replaces it
  with its stub, and the instructor grades the students' answers in formgrader.
- ``LockTeachingCells`` marks every other code cell read-only, so that ``nbgrader autograde``
  restores it from the gradebook: grading depends on nothing a student wrote outside solution cells.

Autograding's own step, ``RestoreCells``, is in instructor/restore.py.
"""

from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode, default

from instructor.cells import grade_id, is_written_answer, nbgrader
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
        for cell in filter(is_written_answer, nb.cells):
            meta = nbgrader(cell)
            if not meta.get("grade") or not meta.get("points", 0) > 0:
                raise ValueError(
                    f"written answer {grade_id(cell)!r} has grade: {meta.get('grade')}, "
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
