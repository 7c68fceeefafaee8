"""The student's path, as Colab and Binder run it: a student notebook, alone, in a fresh environment.

One virtual environment per test session, built from ``binder/requirements.txt`` as repo2docker
would, with two stand-ins (see README, "Binder, Colab and the student branch"):

- PyTorch's CPU index is not reachable here, and the CUDA build of the course's pins would pull
  gigabytes of CUDA libraries: the ``+cpu`` lines become the plain pins of ``requirements.txt``,
  and this interpreter's own torch and torchvision (with what they require, and nothing else) are
  made visible to the venv, read-only, through a ``.pth`` file. So torch is already there, as in
  Colab, and pip cannot change it (it never uninstalls outside the venv);
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
from datetime import datetime
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from mirror import Mirror
from nbclient import NotebookClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from submissions import released, solved

from instructor import course
from instructor.release import student_tree

# one worker under pytest-xdist: every test here shares the session's venv
pytestmark = [pytest.mark.slow, pytest.mark.student_path, pytest.mark.xdist_group("student_path")]

ROOT = course.ROOT
#: Each chapter's time budget in seconds (README, "Benchmark": the full-mode budgets), applied here
#: to the whole fast-mode run, set-up cell and library install included (see ``run_chapter``).
BUDGET = {1: 60, 5: 180}
KERNEL = "course-venv"
VERSION = re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M)[1]
LIBRARY = {f"course-utils {VERSION}"}
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
    """``requirements`` without PyTorch's CPU index, and with the ``+cpu`` pins as plain pins."""
    lines = requirements.splitlines()
    kept = [line for line in lines if not line.startswith("--extra-index-url")]
    assert len(lines) - len(kept) == 1, "binder/requirements.txt changed: update standin()"
    plain = [re.sub(r"\+cpu$", "", line) if PINNED.match(line) else line for line in kept]
    assert sum(p != k for p, k in zip(plain, kept, strict=True)) == 2, (
        "no +cpu pins: update standin()"
    )
    return "\n".join(plain) + "\n"


def requirement_closure(names) -> list[metadata.Distribution]:
    """The installed distributions ``names`` and everything they require, extras included."""
    found, todo = {}, [(name, frozenset()) for name in names]
    while todo:
        name, extras = todo.pop()
        dist = metadata.distribution(name)
        key = (canonicalize_name(dist.name), extras)
        if key in found:
            continue
        found[key] = dist
        for spec in dist.requires or []:
            requirement = Requirement(spec)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in {"", *extras}):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return list(found.values())


def link_installed(names, folder: Path) -> Path:
    """A folder of links to the installed files of ``names`` and their requirements."""
    folder.mkdir(parents=True)
    for dist in requirement_closure(names):
        site = Path(dist.locate_file(""))
        for top in {Path(f).parts[0] for f in dist.files or []} - {"..", "__pycache__"}:
            if not (folder / top).exists() and (site / top).exists():
                (folder / top).symlink_to(site / top)
    return folder


class Venv:
    """A virtual environment in ``path``, with a Jupyter kernel ``KERNEL`` that runs in it."""

    def __init__(self, path: Path, redirect: dict):
        self.path, self.python = path, path / "bin" / "python"
        self.env = clean_env(path, redirect)

    def pip(self, *args, log: Path | None = None):
        env = dict(self.env, PIP_LOG=str(log)) if log else self.env
        return run([self.python, "-m", "pip", *args], env=env, cwd=self.path)

    def python_says(self, code: str) -> str:
        """What ``code`` prints, run in the venv from its own folder (not this checkout)."""
        return run([self.python, "-c", code], env=self.env, cwd=self.path).strip()

    def state(self) -> dict:
        """What is installed: torch's version and files, every distribution, the library."""
        return json.loads(self.python_says(STATE))


#: Run in the venv by ``Venv.state``: imports nothing but the standard library.
STATE = """
import hashlib, importlib.metadata as m, importlib.util as u, json, os
torch = m.distribution("torch")
files = sorted(str(f.locate()) for f in torch.files)
stats = [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files if os.path.exists(f)]
spec = u.find_spec("course_utils")
try:
    direct = json.loads(m.distribution("course-utils").read_text("direct_url.json") or "{}")
except m.PackageNotFoundError:
    direct = {}
print(json.dumps({
    "torch": [torch.version, len(stats), hashlib.sha256(repr(stats).encode()).hexdigest()],
    "installed": sorted({f"{d.name} {d.version}" for d in m.distributions()}),
    "library": spec and spec.origin,
    "commit": direct.get("vcs_info", {}).get("commit_id"),
}))
"""


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
    """A fresh venv with main's Binder requirements and ipykernel, torch already there; built once."""
    started, tmp = time.perf_counter(), tmp_path_factory.mktemp("venv")
    path = tmp / "student"
    run([sys.executable, "-m", "venv", str(path)])
    env = Venv(path, redirect)
    site = env.python_says("import sysconfig; print(sysconfig.get_path('purelib'))")
    torch = link_installed(["torch", "torchvision"], tmp / "preinstalled")
    Path(site, "preinstalled-torch.pth").write_text(f"{torch}\n")
    requirements = path / "requirements.txt"
    requirements.write_text(standin((ROOT / "binder" / "requirements.txt").read_text()))
    # ipykernel: repo2docker's own environment brings the kernel (and JupyterLab) with it
    env.pip("install", "--quiet", "-r", str(requirements), "ipykernel")
    kernel = [env.python, "-m", "ipykernel", "install", "--prefix", str(path), "--name", KERNEL]
    run(kernel, env=env.env)
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
        shutdown_kernel="immediate",  # a kernel that imported torch takes 2.5 s to exit on request
    )
    client.execute(env=env or venv.env)
    return notebook


#: The cell the test adds at the end: the CPU seconds the kernel and its subprocesses (pip) used.
CPU_TIME = nbformat.v4.new_code_cell(
    "import resource\n"
    "print(sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime\n"
    "          for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))"
)


def run_chapter(number, course_root, venv, mirror, folder, env):
    """The solved student notebook of chapter ``number``, copied alone into ``folder`` and run.

    The chapter's time budget is checked against the CPU time that the kernel and pip used, not
    the wall-clock time, which depends on how busy the machine is (budgets are for an idle one);
    the wall-clock budget is each cell's time limit.
    """
    chapter = CHAPTERS[number]
    notebook = solved(course_root, chapter)
    notebook.cells.insert(1, data_stand_in(mirror.url))
    notebook.cells.append(CPU_TIME)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / chapter.path.name)
    env = dict(env, COURSE_FAST_MODE="1", XDG_CACHE_HOME=str(mirror.cache))
    started = time.perf_counter()
    execute(notebook, venv, folder, env=env, timeout=BUDGET[number])
    seconds = time.perf_counter() - started
    cpu = float(notebook.cells[-1].outputs[0].text)
    print(
        f"chapter {number}: {cpu:.1f} s CPU (budget {BUDGET[number]} s), {seconds:.1f} s wall, "
        f"set-up cell {cell_seconds(notebook.cells[0]):.1f} s wall"
    )
    assert cpu < BUDGET[number], f"chapter {number} used {cpu:.0f} s of CPU"
    assert max(mirror.requests.values()) == 1, f"a file was downloaded twice: {mirror.requests}"
    return notebook


def cell_seconds(cell) -> float:
    """How long a cell ran, from the timing nbclient records."""
    timing = {
        k: datetime.fromisoformat(v.replace("Z", "+00:00"))
        for k, v in cell.metadata.execution.items()
    }
    return (timing["shell.execute_reply"] - timing["iopub.execute_input"]).total_seconds()


def installs_torch(log: Path) -> bool:
    """True if pip's log (build environments included) says it installed torch or torchvision."""
    text = log.read_text()
    assert "Successfully installed" in text or "Requirement already satisfied" in text
    return bool(re.search(r"Successfully installed .*\btorch(vision)?-", text))


# --- Colab ------------------------------------------------------------------------------------


# Chapter 5 only: it downloads the data and loads the shipped checkpoints (package data through the
# git install). Chapter 1 runs in the student-branch Binder test below.
@pytest.mark.parametrize("number", [5], ids=lambda n: f"chapter{n}")
def test_colab_installs_the_library_from_git_and_keeps_its_torch(
    number, venv, clone, course_root, mirror, tmp_path
):
    venv.pip("uninstall", "--yes", "--quiet", "course-utils")
    before = venv.state()
    assert before["library"] is None and before["torch"][1] > 1000
    log = tmp_path / "pip.log"
    # COURSE_INSTALL=1 stands for Colab (where the set-up cell sees google.colab)
    env = dict(venv.env, COURSE_INSTALL="1", PIP_LOG=str(log))
    run_chapter(number, course_root, venv, mirror, tmp_path / "colab", env)
    after = venv.state()
    assert after["torch"] == before["torch"]  # same version, same files, untouched
    assert not installs_torch(log)
    assert set(after["installed"]) - set(before["installed"]) == LIBRARY  # and nothing else
    assert set(before["installed"]) <= set(after["installed"])  # nothing upgraded or removed
    assert after["library"].startswith(str(venv.path)) and "site-packages" in after["library"]
    assert after["commit"] == clone[1]  # installed from git, at the released commit
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
    location = venv.state()["library"]
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
    log, before = tmp_path / "pip.log", venv.state()
    venv.pip("install", "--quiet", "-r", str(tmp_path / "requirements.txt"), log=log)
    after = venv.state()
    assert set(after["installed"]) - set(before["installed"]) == LIBRARY
    assert set(before["installed"]) <= set(after["installed"]) and not installs_torch(log)
    assert after["library"].startswith(str(venv.path)) and after["commit"] == clone[1]
    # the branch's notebook, solved, where Binder opens it (the repository's chapters/ folder)
    run_chapter(1, course_root, venv, mirror, branch / "chapters", venv.env)
