"""nbgrader configuration: one assignment per chapter (``ch1`` … ``ch6``), course root = this folder.

``make release`` stages ``chapters/NN_name.ipynb`` as ``_build/nbgrader/source/chN/NN_name.ipynb``
and runs nbgrader's ``generate_assignment``, which writes ``release/chN/NN_name.ipynb``. Submissions
go in ``submitted/<student>/chN/``; ``make autograde CHAPTER=N`` grades them. See README.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback  # noqa: E402
from nbgrader.preprocessors import Execute, OverwriteCells  # noqa: E402

from instructor.course import SOURCE_DIRECTORY  # noqa: E402
from instructor.execute import GuardedExecute  # noqa: E402
from instructor.feedback import FeedbackExporter, HideTests  # noqa: E402
from instructor.preprocessors import CourseSetupCell, LockTeachingCells, WrittenAnswers  # noqa: E402
from instructor.restore import RestoreCells  # noqa: E402

c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "reversing-convolutions"
c.CourseDirectory.source_directory = SOURCE_DIRECTORY
c.CourseDirectory.release_directory = "release"

# Student version: a set-up cell on top, every teaching code cell read-only, model answers as
# 0-point written answers (nbgrader rejects an ungraded markdown solution cell), then nbgrader's own
# steps (stub the solutions, drop hidden tests, clear outputs, record checksums in the gradebook).
c.GenerateAssignment.preprocessors = [
    LockTeachingCells,
    CourseSetupCell,
    WrittenAnswers,
    *GenerateAssignment.class_traits()["preprocessors"].default(),
]
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograding: every deleted read-only cell comes back from the gradebook, test cells to be graded
# (RestoreCells, instructor/restore.py: nbgrader's OverwriteCells, which restores edited read-only
# cells but of the deleted ones only test cells, extended to every read-only cell and re-inserted
# more sturdily).
# A cell may run for 60 s instead of nbgrader's 30: in fast mode the slowest cell (a short training
# run) takes seconds, so 60 s leaves room for a busy machine while still bounding an endless loop.
c.RestoreCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    RestoreCells if cls is OverwriteCells else cls
    for cls in Autograde.class_traits()["sanitize_preprocessors"].default()
]
c.Execute.timeout = 60

# Each submission's kernel runs in a bubblewrap sandbox (instructor/sandbox.py; `make autograde
# SANDBOX=0` turns it off), with a guard that restores rebound checking functions before every test
# cell, and a notebook-wide deadline: after a cell times out, the later cells share 15 s in all.
# A test cell's stderr becomes ordinary output (nbgrader would give the test zero for it), and a
# dead kernel is reported in the cell it died in, the later test cells scoring zero.
c.Autograde.autograde_preprocessors = [
    GuardedExecute if cls is Execute else cls
    for cls in Autograde.class_traits()["autograde_preprocessors"].default()
]
c.GuardedExecute.grace_seconds = 15

# Feedback: test results and messages, never the hidden tests (nbgrader shows them by default).
c.GenerateFeedback.preprocessors = [
    HideTests,
    *GenerateFeedback.class_traits()["preprocessors"].default(),
]
# ... rendered by nbconvert's HTML exporter, whose templates each worker compiles only once.
c.GenerateFeedback.export_class = FeedbackExporter
