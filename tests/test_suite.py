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
