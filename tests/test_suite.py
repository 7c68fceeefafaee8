"""The test suite's own set-up (tests/conftest.py)."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import THREADS_FROM_ENVIRONMENT, WORKER_THREADS


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
