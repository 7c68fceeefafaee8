"""Sphinx extension: ``make book SOLUTIONS=hide`` publishes the site without any solution.

By default (``fold``) the site shows the instructor notebooks as written: solution code folded
behind "Show solution" (tag ``hide-input``) and model answers in dropdowns. With
``COURSE_SOLUTIONS=hide`` (what ``SOLUTIONS=hide`` exports), each notebook is changed as Sphinx
reads it, before myst-nb executes it: solution cells still run, so that the rest of the chapter
works, but are tagged ``remove-cell``; hidden tests move to a ``remove-cell`` cell of their own;
model answers are dropped; and the page sources (the instructor notebooks) are neither copied
into the site nor offered for download.
"""

import os
import shutil
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the course's instructor package

from instructor.cells import (  # noqa: E402
    hidden_tests,
    is_solution,
    is_written_answer,
    without_hidden_tests,
)


def without_solutions(notebook):
    """The notebook with solutions, hidden tests and model answers removed from view."""
    cells = []
    for cell in notebook.cells:
        if is_written_answer(cell):
            continue
        if is_solution(cell):
            cell.metadata["tags"] = [*cell.metadata.get("tags", []), "remove-cell"]
        cells.append(cell)
        hidden = hidden_tests(cell.source) if cell.cell_type == "code" else []
        if hidden:
            cell.source = without_hidden_tests(cell.source).rstrip()
            tests = nbformat.v4.new_code_cell("\n".join(hidden), metadata={"tags": ["remove-cell"]})
            cells.append(tests)
    notebook.cells = cells
    return notebook


def hide_solutions(app, docname, source):
    if app.config.course_solutions != "hide" or not app.env.doc2path(docname).endswith(".ipynb"):
        return
    notebook = nbformat.reads(source[0], as_version=4)
    source[0] = nbformat.writes(without_solutions(notebook))


def no_sources(app, config):
    if config.course_solutions not in ("fold", "hide"):
        raise ValueError(f"COURSE_SOLUTIONS must be fold or hide, not {config.course_solutions!r}")
    if config.course_solutions == "hide":
        config.html_copy_source = False
        config.html_theme_options = {**config.html_theme_options, "use_download_button": False}


def remove_old_sources(app):
    """An earlier build with folded solutions left the instructor notebooks in ``_sources``."""
    if app.config.course_solutions == "hide":
        shutil.rmtree(Path(app.outdir) / "_sources", ignore_errors=True)


def setup(app):
    default = os.environ.get("COURSE_SOLUTIONS") or "fold"
    app.add_config_value("course_solutions", default, "env")  # changing it re-reads every page
    app.connect("config-inited", no_sources)
    app.connect("builder-inited", remove_old_sources)
    app.connect("source-read", hide_solutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
