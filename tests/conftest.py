"""Shared fixtures: the repository root, the table of contents, and one fast-mode build of the site.

Under pytest-xdist (``make test`` runs ``-n 2 --dist loadgroup``), the tests that share an expensive
module- or session-scoped fixture (the built site, a released and graded course, a chapter's
kernel) run on one worker, so that each such fixture is made once, not once per worker.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from instructor.environment import FAST_MODE, use_threads

ROOT = Path(__file__).resolve().parents[1]


def share_the_cores():
    """Under pytest-xdist, give each worker, and all it starts, its share of the cores.

    Left alone, torch runs one thread per core in every worker, in every kernel and in the site
    build; with more threads than cores, OpenMP threads wait on each other and a chapter's tests
    run about ten times slower (chapter 6: 30 s alone, 300 s in the suite). An ``OMP_NUM_THREADS``
    already set in the environment is kept, and given to the other pools too.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return None
    share = str(max(1, (os.cpu_count() or 1) // workers))
    threads = int(os.environ.get("OMP_NUM_THREADS", share))  # all pools alike, the user's if set
    use_threads(threads, overwrite=False)  # the grader's JOBS=k does the same for its kernels
    return threads


#: Whether the environment chose the threads itself (then its choice stands).
THREADS_FROM_ENVIRONMENT = "OMP_NUM_THREADS" in os.environ
#: Threads per worker under pytest-xdist (None without it): tests/test_suite.py checks them.
WORKER_THREADS = share_the_cores()


def toc_files():
    """Every page in ``_toc.yml``, in reading order, as paths without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [entry["file"] for entry in toc["chapters"]]


def chapter_notebooks():
    return [ROOT / f"{page}.ipynb" for page in toc_files() if page.startswith("chapters/")]


@pytest.fixture(scope="session")
def fast_site(tmp_path_factory):
    """The site built in fast mode with warnings as errors; its ``_build/html`` folder.

    Set ``COURSE_SITE`` to an existing ``_build/html`` folder to test that build instead.
    """
    if os.environ.get("COURSE_SITE"):
        return Path(os.environ["COURSE_SITE"])
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, **{FAST_MODE: "1"})
    # jupyter_book has no __main__ module: call its command-line entry point with this interpreter
    jupyter_book = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]
    command = jupyter_book + ["build", str(ROOT), "--path-output", str(out)]
    result = subprocess.run(
        command + ["-W", "--keep-going"], env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, (
        f"book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )
    return out / "_build" / "html"


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks into node ids
def pytest_collection_modifyitems(config, items):
    """One xdist group per module with a module-scoped fixture of ours, one per session fixture."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        info = getattr(item, "_fixtureinfo", None)
        shared = [
            definitions[-1]  # the one the test gets: a module's own overrides the conftest's
            for name in (info.names_closure if info else [])
            if (definitions := info.name2fixturedefs.get(name))
            and definitions[-1].scope in ("module", "package", "session")
            and str(getattr(definitions[-1], "baseid", "")).startswith("tests")
        ]
        # the built site first: every test that reads it on one worker, so it is built once
        sessions = sorted(
            (d for d in shared if d.scope == "session"), key=lambda d: d.argname != "fast_site"
        )
        if sessions:
            group = f"{sessions[0].baseid}::{sessions[0].argname}"
        elif shared:
            group = item.nodeid.split("::")[0]
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))
