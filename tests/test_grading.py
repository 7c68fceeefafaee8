"""The grader's parts that need no grading run: its progress bar, and the private hooks of nbgrader,
nbclient, jupyter_client and nbconvert that it overrides (requirements.txt pins their versions below the next
release that could change them). tests/test_autograde.py grades real submissions end to end."""

import inspect
import io
import shutil

import pytest
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbconvert.exporters import TemplateExporter
from nbconvert.preprocessors import ExecutePreprocessor
from nbformat.v4 import new_code_cell, new_output
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells
from nbgrader.utils import determine_grade

from instructor.execute import error, stderr_as_stdout
from instructor.grading import progress_bar
from instructor.sandbox import SandboxKernelManager


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


def run_bar(monkeypatch, stdout, stderr, show=None):
    monkeypatch.setattr("sys.stdout", stdout)
    monkeypatch.setattr("sys.stderr", stderr)
    with progress_bar(3, "ch1", show=show) as bar:
        for _ in range(3):
            bar.update()
    return stderr.getvalue()


def test_the_progress_bar_shows_on_a_terminal_with_the_time_left(monkeypatch):
    drawn = run_bar(monkeypatch, Terminal(), Terminal())
    assert "ch1: 100%" in drawn and "3/3 [" in drawn and "submission" in drawn
    assert "<00:00" in drawn  # elapsed<left


@pytest.mark.parametrize("terminal", ["stdout", "stderr", "neither"])
def test_the_progress_bar_is_quiet_unless_both_streams_are_a_terminal(monkeypatch, terminal):
    stdout = Terminal() if terminal == "stdout" else io.StringIO()
    stderr = Terminal() if terminal == "stderr" else io.StringIO()
    assert run_bar(monkeypatch, stdout, stderr) == ""


def test_the_progress_bar_can_be_forced_or_silenced(monkeypatch):
    assert "3/3" in run_bar(monkeypatch, io.StringIO(), io.StringIO(), show=True)
    assert run_bar(monkeypatch, Terminal(), Terminal(), show=False) == ""


def test_stderr_becomes_ordinary_output_which_nbgrader_grades_in_full():
    """The rule of instructor/execute.py: stderr costs nothing, an error still costs the points."""
    meta = {"nbgrader": {"grade": True, "solution": False, "points": 2, "grade_id": "t"}}
    cell = new_code_cell("", metadata=meta)
    cell.outputs = [new_output("stream", name="stderr", text="100%|##| 3/3\n")]
    assert determine_grade(cell) == (0, 2)  # nbgrader's own rule
    stderr_as_stdout(cell)
    assert cell.outputs == [new_output("stream", name="stdout", text="100%|##| 3/3\n")]
    assert determine_grade(cell) == (2, 2)
    cell.outputs.append(error("ValueError", "wrong"))
    assert determine_grade(cell) == (0, 2)


#: What the grader overrides or calls that is not public API: owner, name and signature.
HOOKS = {
    NotebookClient: {
        "_get_timeout": "(self, cell)",
        "_async_handle_timeout": "(self, timeout, cell=None)",
        "async_wait_for_reply": "(self, msg_id, cell=None)",
    },
    ExecutePreprocessor: {
        "preprocess": "(self, nb, resources=None, km=None)",
        "preprocess_cell": "(self, cell, resources, index)",
    },
    OverwriteCells: {
        "add_missing_grade_cells": "(self, nb, resources)",
        "missing_cell_transform": "(self, source_cell, max_score, is_solution=False, is_task=False)",
    },
    ClearHiddenTests: {"_remove_hidden_test_region": "(self, cell)"},
    TemplateExporter: {"_create_environment": "(self)"},
    AsyncKernelManager: {
        "_async_pre_start_kernel": "(self, *, transport_encryption=None, **kw)",
        "_async_cleanup_resources": "(self, restart=False)",
        "format_kernel_cmd": "(self, extra_arguments=None)",
    },
}


def signature(function) -> str:
    """A signature without annotations, as the overrides are written."""
    parameters = [
        p.replace(annotation=p.empty) for p in inspect.signature(function).parameters.values()
    ]
    return str(inspect.Signature(parameters))


@pytest.mark.parametrize(
    ("owner", "name", "expected"),
    [
        pytest.param(owner, name, expected, id=f"{owner.__name__}.{name}")
        for owner, hooks in HOOKS.items()
        for name, expected in hooks.items()
    ],
)
def test_the_hooks_the_grader_overrides_are_still_there(owner, name, expected):
    where = f"{owner.__module__}.{owner.__qualname__}.{name}"
    advice = (
        f"; the grader relies on it (grep -rn {name} instructor/). Check that code against the "
        "new version, then update HOOKS here and the upper bound in requirements.txt."
    )
    assert hasattr(owner, name), f"{where} is gone" + advice
    found = signature(getattr(owner, name))
    assert found == expected, f"{where} is now {found}, not {expected}" + advice


def test_the_calls_the_grader_relies_on_are_still_made():
    """The base classes still call the hooks (an override nobody calls would change nothing)."""
    execute = inspect.getsource(NotebookClient.async_execute_cell)
    assert "self._get_timeout(cell)" in execute, "nbclient no longer asks _get_timeout per cell"
    assert "raise DeadKernelError" in execute, "nbclient no longer raises DeadKernelError"
    assert issubclass(DeadKernelError, Exception)
    waiting = inspect.getsource(NotebookClient._async_poll_for_reply)
    assert "_async_handle_timeout(timeout, cell)" in waiting, "nbclient handles timeouts elsewhere"
    overwrite = inspect.getsource(OverwriteCells.preprocess)
    assert "self.add_missing_grade_cells(nb, resources)" in overwrite, (
        "nbgrader's OverwriteCells no longer restores deleted cells through add_missing_grade_cells"
    )


def test_the_kernel_works_in_a_copy_of_the_folder_the_grader_names(tmp_path):
    """The sandbox copies the submission folder it is told, wherever it is; told none, it gives
    the kernel an empty folder (it never guesses the student from nbgrader's folder layout)."""
    named = tmp_path / "anywhere" / "ada"
    named.mkdir(parents=True)
    (named / "notes.txt").write_text("mine")
    manager = SandboxKernelManager(submission=str(named))
    try:
        manager._prepare_scratch()
        assert (manager._scratch / "notes.txt").read_text() == "mine"
        assert (named / "notes.txt").exists()  # a copy: the submission itself stays
        manager.submission = ""
        manager._prepare_scratch()
        assert list(manager._scratch.iterdir()) == []
    finally:
        shutil.rmtree(manager._private)


def test_feedback_templates_are_compiled_once_per_worker(monkeypatch):
    """nbgrader makes a new exporter for every feedback file: only the first compiles templates,
    and the page is the same."""
    from jinja2 import Environment
    from nbformat.v4 import new_notebook
    from traitlets.config.loader import PyFileConfigLoader

    from instructor.course import ROOT
    from instructor.feedback import COMPILED_TEMPLATES, FeedbackExporter

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert config.GenerateFeedback.export_class is FeedbackExporter
    compiled, compile_template = [], Environment.compile

    def counting(self, *args, **kwargs):
        compiled.append(args[1:2])
        return compile_template(self, *args, **kwargs)

    monkeypatch.setattr(Environment, "compile", counting)
    monkeypatch.setattr(COMPILED_TEMPLATES, "code", {})
    notebook = new_notebook(cells=[new_code_cell("1 + 1", outputs=[])])
    first, _ = FeedbackExporter().from_notebook_node(notebook)
    assert compiled, "the first exporter compiles its templates"
    count = len(compiled)
    second, _ = FeedbackExporter().from_notebook_node(notebook)
    assert len(compiled) == count, f"compiled again: {compiled[count:]}"
    assert second == first
