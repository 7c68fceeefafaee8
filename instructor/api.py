"""nbgrader's API, configured by the repository's ``nbgrader_config.py``: the commands' one door
into nbgrader (release, grading, the class report, the shards' merge).

Loading ``nbgrader_config.py`` imports the steps it configures (execute, feedback, preprocessors,
restore), so none of those may import this module: tests/test_imports.py checks that the import
graph, this edge included, has no cycle.
"""

from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
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
