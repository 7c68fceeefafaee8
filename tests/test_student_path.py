"""The student's path, as Colab and Binder run it: a student notebook, alone, in a fresh environment.

One virtual environment per test session, built from ``binder/requirements.txt`` as repo2docker
would, with two stand-ins (see README, "Binder, Colab and the student branch"):

- PyTorch's CPU index is not reachable here, so the ``torch==…+cpu`` and ``torchvision==…+cpu``
  lines become ``STANDIN_TORCH`` (an older CPU-only release than the course's pins: that also makes
  the environment Colab-like, torch already installed at another version);
- the repository's URL is redirected to a local clone with git's ``url.<clone>.insteadOf``, and
  git may use no other protocol than local files, so nothing reaches GitHub.

The data comes the way it would there: no Debian copy, a download from torchvision's mirror list,
pointed at a local mirror by one cell that the test adds after the set-up cell.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from mirror import Mirror
from nbclient import NotebookClient
from submissions import released, solved

from instructor import course
from instructor.release import student_tree

pytestmark = [pytest.mark.slow, pytest.mark.student_path]

ROOT = course.ROOT
#: What stands for Binder's CPU-only torch and for Colab's older torch (set it to try another).
STANDIN_TORCH = os.environ.get("COURSE_TEST_TORCH", "torch==2.13.0+cpu torchvision==0.28.0").split()
#: Each chapter's time budget in seconds (README, "Benchmark": the full-mode budgets), applied here
#: to the whole fast-mode run, set-up cell and library install included.
BUDGET = {1: 60, 5: 180}
KERNEL = "course-venv"
CHAPTERS = {c.number: c for c in course.chapters() if c.number in BUDGET}
PINNED = re.compile(r"^(torch|torchvision)==\S+\+cpu$")


def run(command, **kwargs):
    """Run ``command``; fail with its output if it fails. Returns its stdout."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, (
        f"{command} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result.stdout


def standin(requirements: str) -> str:
    """``requirements`` with PyTorch's CPU index and ``+cpu`` pins replaced by ``STANDIN_TORCH``."""
    lines = requirements.splitlines()
    kept = [
        line
        for line in lines
        if not line.startswith("--extra-index-url") and not PINNED.match(line)
    ]
    assert len(lines) - len(kept) == 3, "binder/requirements.txt changed: update standin()"
    return "\n".join(STANDIN_TORCH + kept) + "\n"


class Venv:
    """A virtual environment in ``path``, with a Jupyter kernel ``KERNEL`` that runs in it."""

    def __init__(self, path: Path, redirect: dict):
        self.path, self.python = path, path / "bin" / "python"
        self.env = clean_env(path, redirect)

    def pip(self, *args, log: Path | None = None):
        env = dict(self.env, PIP_LOG=str(log)) if log else self.env
        return run([self.python, "-m", "pip", *args], env=env)

    def python_says(self, code: str) -> str:
        return run([self.python, "-c", code], env=self.env).strip()

    def torch_fingerprint(self) -> tuple:
        """torch's version, and the size and modification time of every file pip recorded for it."""
        code = (
            "import importlib.metadata as m, os, torch\n"
            "files = [f.locate() for f in m.distribution('torch').files]\n"
            "print(torch.__version__, sum(os.stat(f).st_mtime_ns + os.stat(f).st_size"
            " for f in files if os.path.exists(f)), len(files))"
        )
        return tuple(self.python_says(code).split())

    def library_location(self) -> str | None:
        code = "import importlib.util as u; s = u.find_spec('course_utils'); print(s and s.origin)"
        origin = self.python_says(code)
        return None if origin == "None" else origin


def clean_env(venv: Path, redirect: dict) -> dict:
    """The environment of a student's machine: this one without the course's own settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "JUPYTER", "PYTHON"))
    }
    env.pop("FASHION_MNIST_ROOT", None)
    env.pop("MPLBACKEND", None)
    env.update(redirect)
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    return env


@pytest.fixture(scope="session")
def clone(tmp_path_factory):
    """A local clone of this repository, standing for it on GitHub; and its HEAD commit."""
    path = tmp_path_factory.mktemp("github") / "repository"
    run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(path)])
    return path, run(["git", "-C", str(path), "rev-parse", "HEAD"]).strip()


@pytest.fixture(scope="session")
def redirect(clone):
    """Git settings that send the repository's URL to the clone, and forbid anything but files."""
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{clone[0]}.insteadOf",
        "GIT_CONFIG_VALUE_0": course.repository_url(ROOT),
        "GIT_ALLOW_PROTOCOL": "file",
    }


@pytest.fixture(scope="session")
def venv(tmp_path_factory, redirect):
    """A fresh venv with main's Binder requirements (torch stood in) and ipykernel, built once."""
    path = tmp_path_factory.mktemp("venv") / "student"
    started = time.perf_counter()
    run([sys.executable, "-m", "venv", str(path)])
    env = Venv(path, redirect)
    requirements = path / "requirements.txt"
    requirements.write_text(standin((ROOT / "binder" / "requirements.txt").read_text()))
    # ipykernel: repo2docker's own environment brings the kernel (and JupyterLab) with it
    env.pip("install", "--quiet", "--prefer-binary", "-r", str(requirements), "ipykernel")
    run(
        [env.python, "-m", "ipykernel", "install", "--prefix", str(path), "--name", KERNEL],
        env=env.env,
    )
    print(f"\nstudent venv built in {time.perf_counter() - started:.0f} s")
    return env


@pytest.fixture(scope="session")
def course_root(tmp_path_factory, clone):
    """Chapters 1 and 5 released as `make release` does, pinned to the clone's HEAD."""
    return released(list(CHAPTERS.values()), tmp_path_factory.mktemp("course"), ref=clone[1])


@pytest.fixture(scope="session")
def mirror(tmp_path_factory):
    """Torchvision's mirror, on 127.0.0.1, for the whole session; and the download cache it fills."""
    with Mirror() as server:
        server.cache = tmp_path_factory.mktemp("xdg-cache")
        yield server


def data_stand_in(url: str):
    """The cell the test adds after the set-up cell: no Debian copy, and a local mirror."""
    source = (
        "# Added by the test: no Debian copy of Fashion-MNIST, and torchvision's mirror is local.\n"
        "import course_utils.data, torchvision.datasets\n"
        "course_utils.data.DEBIAN_ROOT = course_utils.data.Path('/nonexistent')\n"
        f"torchvision.datasets.FashionMNIST.mirrors = [{url!r}]\n"
    )
    return nbformat.v4.new_code_cell(source)


def execute(notebook, venv: Venv, folder: Path, env=None, timeout=600, allow_errors=False):
    """Run ``notebook`` top to bottom with nbclient in ``venv``'s kernel, in ``folder``."""
    kernels = KernelSpecManager(kernel_dirs=[str(venv.path / "share" / "jupyter" / "kernels")])
    manager = KernelManager(kernel_name=KERNEL, kernel_spec_manager=kernels)
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=timeout,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env=env or venv.env)
    return notebook


def run_chapter(number, course_root, venv, mirror, folder, env, setup_only=False):
    """The solved student notebook of chapter ``number``, copied alone into ``folder`` and run."""
    chapter = CHAPTERS[number]
    notebook = solved(course_root, chapter)
    notebook.cells.insert(1, data_stand_in(mirror.url))
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / chapter.path.name)
    env = dict(env, COURSE_FAST_MODE="1", XDG_CACHE_HOME=str(mirror.cache))
    started = time.perf_counter()
    execute(notebook, venv, folder, env=env, timeout=BUDGET[number])
    seconds = time.perf_counter() - started
    print(f"chapter {number} ran in {seconds:.1f} s (budget {BUDGET[number]} s)")
    assert seconds < BUDGET[number], f"chapter {number} took {seconds:.0f} s"
    assert max(mirror.requests.values()) == 1, f"a file was downloaded twice: {mirror.requests}"
    return notebook


def installed(log: Path) -> set[str]:
    """The distributions that pip's log says it installed."""
    lines = re.findall(r"Successfully installed (.*)", log.read_text() if log.exists() else "")
    return {re.sub(r"-[^-]+$", "", name).lower() for line in lines for name in line.split()}


# --- Colab ------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", sorted(BUDGET), ids=lambda n: f"chapter{n}")
def test_colab_installs_the_library_from_git_and_keeps_its_torch(
    number, venv, clone, course_root, mirror, tmp_path
):
    venv.pip("uninstall", "--yes", "--quiet", "course-utils")
    assert venv.library_location() is None
    before = venv.torch_fingerprint()
    assert before[0] == STANDIN_TORCH[0].split("==")[1]  # not the course's pin
    log = tmp_path / "pip.log"
    # COURSE_INSTALL=1 stands for Colab (where the set-up cell sees google.colab)
    env = dict(venv.env, COURSE_INSTALL="1", PIP_LOG=str(log))
    run_chapter(number, course_root, venv, mirror, tmp_path / "colab", env)
    assert venv.torch_fingerprint() == before  # same version, same files, untouched
    assert installed(log) == {"course-utils"}, f"pip installed {installed(log)}"
    location = venv.library_location()
    assert location.startswith(str(venv.path)) and "site-packages" in location
    commit = venv.python_says(
        "import importlib.metadata as m; print(m.distribution('course-utils').read_text('direct_url.json'))"
    )
    assert json.loads(commit)["vcs_info"]["commit_id"] == clone[1]  # the released commit
    assert (mirror.cache / "course_utils" / "FashionMNIST" / "raw").is_dir()


# --- plain Jupyter ----------------------------------------------------------------------------


def test_plain_jupyter_without_the_library_shows_how_to_install_it(
    venv, clone, course_root, tmp_path
):
    venv.pip("uninstall", "--yes", "--quiet", "course-utils")
    notebook = solved(course_root, CHAPTERS[1])
    notebook.cells = notebook.cells[:1]  # Jupyter's "Run all" stops at the first error
    execute(notebook, venv, tmp_path, allow_errors=True, timeout=60)
    [error] = [o for o in notebook.cells[0].outputs if o.output_type == "error"]
    assert len(error.traceback) == 1, error.traceback  # the message alone: no traceback
    message = error.traceback[0]
    assert f"pip install 'course-utils @ git+{course.repository_url(ROOT)}@{clone[1]}'" in message
    assert "Binder or Colab" in message and len(message.splitlines()) <= 4
    assert "Traceback" not in message and 'File "' not in message
    assert error.ename == "SetUpNeeded"


# --- Binder -----------------------------------------------------------------------------------


def widget_models(notebook) -> set[str]:
    state = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    return {model["model_name"] for model in (state or {}).get("state", {}).values()}


def widget_extensions(venv) -> list[str]:
    """The folders where JupyterLab, as `jupyter labextension list` does, finds the widget manager."""
    code = (
        "import pathlib; from jupyter_core.paths import jupyter_path\n"
        "for d in jupyter_path('labextensions'):\n"
        "    if pathlib.Path(d, '@jupyter-widgets/jupyterlab-manager/package.json').is_file():\n"
        "        print(d)"
    )
    return venv.python_says(code).splitlines()


def test_binder_on_main_installs_the_checkout_and_runs_a_chapter(
    venv, clone, course_root, mirror, tmp_path
):
    venv.pip("uninstall", "--yes", "--quiet", "course-utils")
    # repo2docker runs postBuild from the repository's root, with the environment's python first
    run(["bash", "binder/postBuild"], cwd=clone[0], env=venv.env)
    location = venv.library_location()
    assert location.startswith(str(venv.path)) and "site-packages" in location
    # no COURSE_INSTALL: had postBuild not installed the library, the set-up cell would stop
    notebook = run_chapter(5, course_root, venv, mirror, tmp_path / "binder", venv.env)
    models = widget_models(notebook)
    assert "FloatProgressModel" in models  # tqdm's live bar, from the Trainer
    assert "SelectionSliderModel" in models and "StackModel" in models  # the picture browsers
    assert str(venv.path / "share" / "jupyter" / "labextensions") in widget_extensions(venv)


def test_binder_on_the_student_branch_installs_the_released_library(
    venv, clone, course_root, mirror, tmp_path
):
    venv.pip("uninstall", "--yes", "--quiet", "course-utils")
    branch = student_tree(course_root, tmp_path / "student")
    main = (ROOT / "binder" / "requirements.txt").read_text()
    requirements = (branch / "binder" / "requirements.txt").read_text()
    pinned = f"course-utils @ git+{course.repository_url(ROOT)}@{clone[1]}\n"
    # the student branch's file is main's plus one line: the venv already holds main's
    assert requirements == main + pinned
    assert not (branch / "binder" / "postBuild").exists()
    (tmp_path / "requirements.txt").write_text(standin(requirements))
    log = tmp_path / "pip.log"
    venv.pip("install", "--quiet", "-r", str(tmp_path / "requirements.txt"), log=log)
    assert installed(log) == {"course-utils"}
    assert venv.library_location().startswith(str(venv.path))
    # the branch's notebook, solved, where Binder opens it (the repository's chapters/ folder)
    run_chapter(1, course_root, venv, mirror, branch / "chapters", venv.env)
