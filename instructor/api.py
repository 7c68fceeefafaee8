"""nbgrader's API, configured by the repository's ``nbgrader_config.py``: the commands' one door
into nbgrader (release, grading, the class report, the shards' merge).

Loading ``nbgrader_config.py`` imports the steps it configures (execute, feedback, preprocessors,
restore), so none of those may import this module: tests/test_imports.py checks that the import
graph, this edge included, has no cycle.
"""

import functools
from pathlib import Path

import nbgrader.api
from alembic.script import ScriptDirectory
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.dbutil import ALEMBIC_DIR
from traitlets.config.loader import PyFileConfigLoader

from instructor.course import ROOT

CONFIG = "nbgrader_config.py"


def nbgrader_api(course_root: Path, **config) -> NbGraderAPI:
    """nbgrader's API for ``course_root``; ``config`` overrides, e.g. ``CourseSetupCell__ref="v1.0"``."""
    cfg = PyFileConfigLoader(CONFIG, path=str(ROOT)).load_config()
    cfg.CourseDirectory.root = str(course_root)
    for key, value in config.items():
        section, name = key.split("__")
        cfg[section][name] = value
    return NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)


@functools.cache
def gradebook_schema() -> str:
    """The newest version of the gradebook's schema, which nbgrader writes into every new gradebook.

    nbgrader asks the ``alembic heads`` command for it (``nbgrader.api.get_alembic_version``): a
    new Python process, 2 s for every course released and every shard graded. Its migration
    scripts say the same in 0.1 s, once per process (tests/test_api.py compares the two).
    """
    return ScriptDirectory(ALEMBIC_DIR).get_current_head()


nbgrader.api.get_alembic_version = gradebook_schema
