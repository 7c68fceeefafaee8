"""The test suite's own set-up (tests/conftest.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, THREADS_FROM_ENVIRONMENT, WORKER_THREADS


def test_each_worker_and_what_it_starts_gets_its_share_of_the_cores():
    if WORKER_THREADS is None:
        pytest.skip("only under pytest-xdist (make test runs two workers)")
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    if not THREADS_FROM_ENVIRONMENT:  # else the environment's choice stands, as documented
        assert WORKER_THREADS == max(1, (os.cpu_count() or 1) // workers)
    assert torch.get_num_threads() == WORKER_THREADS
    # a kernel, the site build or a grader started from here inherits the share
    code = "import torch; print(torch.get_num_threads())"
    started = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert started.stdout.strip() == str(WORKER_THREADS), started.stderr


def test_ci_runs_the_suite_in_a_fresh_virtual_environment():
    """CI (.ci/run) follows the README's venv advice: a venv of its own, no system site packages."""
    if os.environ.get("CI") != "true":
        pytest.skip("only in CI (CI=true): `make test` runs in whatever interpreter you use")
    assert sys.prefix != sys.base_prefix, f"CI ran in {sys.prefix}, not in a virtual environment"
    config = (Path(sys.prefix) / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in config, config
    assert not Path(sys.prefix).is_relative_to(ROOT), "the venv belongs outside the checkout"
    import course_utils  # installed into that venv by `make test`'s set-up, from this checkout

    assert Path(course_utils.__file__).resolve().is_relative_to(ROOT)


GROUPED = """
import importlib.util, os, pytest

spec = importlib.util.spec_from_file_location("course_conftest", {conftest!r})
course_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course_conftest)
pytest_collection_modifyitems = course_conftest.pytest_collection_modifyitems


@pytest.fixture(scope="session")
def expensive():
    with open("made.txt", "a") as log:  # one line each time the fixture is made
        log.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""


# A module that overrides the session fixture with one built on its own module fixture (as
# tests/test_report.py does): all of its tests share one worker, and `graded` is made once.
OVERRIDDEN = """
import pytest


@pytest.fixture(scope="module")
def graded():
    with open("made.txt", "a") as log:
        log.write("graded\\n")


@pytest.fixture(scope="module")
def expensive(graded):
    return graded


@pytest.mark.parametrize("i", range(6))
def test_c(graded, i):
    pass


@pytest.mark.parametrize("i", range(6))
def test_c_page(expensive, i):
    pass
"""


def test_tests_sharing_a_fixture_run_on_one_worker(tmp_path):
    """Under ``-n 2 --dist loadgroup`` a session fixture is made once, not once per worker (with
    pytest 9, pytest-xdist's groups silently stopped working and the site was built twice)."""
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text(GROUPED.format(conftest=str(ROOT / "tests" / "conftest.py")))
    for name in "ab":
        body = "import pytest\n\n@pytest.mark.parametrize('i', range(6))\n"
        body += f"def test_{name}(expensive, i):\n    pass\n\n"
        body += f"@pytest.mark.parametrize('i', range(6))\ndef test_{name}_alone(i):\n    pass\n"
        (tests / f"test_{name}.py").write_text(body)
    (tests / "test_c.py").write_text(OVERRIDDEN)
    # only xdist among the plugins: the others' imports would only slow the two workers' start
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    command = [sys.executable, "-m", "pytest", "-p", "xdist", "-n", "2", "--dist", "loadgroup"]
    command += ["-q", "-p", "no:cacheprovider"]
    run = subprocess.run(command + ["tests"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    made = (tmp_path / "made.txt").read_text().split()
    assert len(made) == 2, f"the shared fixtures were made on {made}: the xdist groups do not hold"
