"""Launching and publishing: launch buttons open student notebooks, solutions fold or vanish,
Binder installs a CPU-only course, and the workflow calls only what the Makefile has."""

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from submissions import FIXTURE, released

from instructor import course
from instructor.cells import is_solution, secret_lines, solutions
from instructor.release import student_tree

ROOT = course.ROOT
sys.path.insert(0, str(ROOT / "site"))  # the site's Sphinx extensions ("site" itself is stdlib's)
from sphinx_solutions import without_solutions  # noqa: E402

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CHAPTERS = course.chapters()


def workflow(path):
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(data):
    return [step for job in data["jobs"].values() for step in job["steps"]]


def publish_branch():
    """The branch the workflow pushes the student notebooks to."""
    [branch] = [
        s["with"]["publish_branch"]
        for path in WORKFLOWS
        for s in steps(workflow(path))
        if "publish_branch" in s.get("with", {})
    ]
    return branch


def launch_urls(page: Path) -> dict[str, str]:
    text = html.unescape(page.read_text())
    binder = re.findall(r'href="(https://mybinder\.org/[^"]+)"', text)
    colab = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', text)
    return {"binder": binder, "colab": colab}


@pytest.fixture(scope="module")
def student_branch(tmp_path_factory):
    """The student branch's files, as the workflow would publish them, for the real chapters."""
    root = released(CHAPTERS, tmp_path_factory.mktemp("course"))
    return student_tree(root, root / "student")


def test_config_points_launch_buttons_at_the_student_branch():
    assert CONFIG["repository"]["branch"] == publish_branch() == "student"
    assert CONFIG["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["sphinx"]["local_extensions"]["sphinx_solutions"] == "site/"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_launch_buttons_open_the_student_notebook(fast_site, student_branch, chapter):
    org_repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    page = f"chapters/{chapter.stem}"
    urls = launch_urls(fast_site / f"{page}.html")
    assert set(urls["binder"]) == {
        f"https://mybinder.org/v2/gh/{org_repo}/student?urlpath=tree/{page}.ipynb"
    }
    assert set(urls["colab"]) == {
        f"https://colab.research.google.com/github/{org_repo}/blob/student/{page}.ipynb"
    }
    # ... and what they open on that branch is the student version
    notebook = nbformat.read(student_branch / f"{page}.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells)
    assert notebook.cells[0].source.startswith("# Set-up")
    assert not secret_lines(nbformat.read(chapter.path, 4)) & {
        line.strip() for line in text.splitlines()
    }
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text


def test_student_branch_installs_the_released_library_on_binder(student_branch):
    requirements = (student_branch / "binder" / "requirements.txt").read_text()
    assert re.search(
        r"^course-utils @ git\+https://github\.com/\S+@[0-9a-f]{16}$", requirements, re.M
    )


def plain(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_site_folds_solutions_and_model_answers(fast_site, chapter):
    source = nbformat.read(chapter.path, 4)
    answers = [c for c in source.cells if is_solution(c)]
    assert answers, f"{chapter.stem} has no exercise: every chapter has one (CONTRIBUTING.md)"
    page = (fast_site / "chapters" / f"{chapter.stem}.html").read_text()
    details = r'<details class="admonition hide above-input">(.*?)</details>'
    folded = [plain(block) for block in re.findall(details, page, re.S)]
    for cell in answers:
        if cell.cell_type == "code":  # its answer is shown only inside a "Show solution" toggle
            region = solutions(cell.source)[0]
            line = next(line.strip() for line in region.splitlines() if line.strip())
            assert any("Show solution" in block and line in block for block in folded), line
    dropdowns = re.findall(
        r'<div class="dropdown admonition">\s*<p class="admonition-title">Model answer', page
    )
    assert len(dropdowns) == sum(c.cell_type == "markdown" for c in answers)


def build(book: Path, solutions: str) -> Path:
    """Build a one-chapter book (the test chapter) with SOLUTIONS=``solutions``; its HTML folder."""
    env = dict(os.environ, COURSE_FAST_MODE="1", COURSE_SOLUTIONS=solutions)
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]
    command += ["build", str(book), "-W", "--keep-going"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return book / "_build" / "html"


@pytest.fixture(scope="module")
def mini_book(tmp_path_factory):
    book = tmp_path_factory.mktemp("book")
    (book / "chapters").mkdir()
    (book / "chapters" / FIXTURE.path.name).write_bytes(FIXTURE.path.read_bytes())
    (book / "intro.md").write_text("# Test book\n")
    (book / "_toc.yml").write_text(
        f"format: jb-book\nroot: intro\nchapters:\n  - file: chapters/{FIXTURE.stem}\n"
    )
    config = {
        "title": "Test",
        "execute": {"execute_notebooks": "force", "allow_errors": False},
        "sphinx": {"local_extensions": {"sphinx_solutions": str(ROOT / "site")}},
        "repository": CONFIG["repository"],
        "launch_buttons": CONFIG["launch_buttons"],
        "html": {"use_repository_button": True},
    }
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    return book


def site_text(site: Path) -> str:
    """Everything in the built site that could show text, without markup."""
    suffixes = {".html", ".js", ".ipynb", ".txt", ".json"}
    files = [p for p in site.rglob("*") if p.is_file() and p.suffix in suffixes]
    return plain("".join(p.read_text(errors="ignore") for p in files))


@pytest.mark.slow
def test_solutions_hide_removes_every_solution_from_the_site(mini_book):
    secrets = secret_lines(nbformat.read(FIXTURE.path, 4))
    folded = build(mini_book, "fold")
    page = plain((folded / "chapters" / f"{FIXTURE.stem}.html").read_text())
    for shown in [
        "return torch.flip(kernel, dims=(-2, -1))",
        "flip(flip(k))",
        "half as many outputs",
    ]:
        assert shown in page  # folded, but there
    assert "Show solution" in page
    hidden = build(mini_book, "hide")  # same build folder: changing the setting re-reads every page
    text = site_text(hidden)
    assert not [line for line in secrets if line in text]
    assert "output_size(28, 3) == 26" in text  # visible tests stay, and ran against the solution
    assert not (hidden / "_sources").exists()
    page = (hidden / "chapters" / f"{FIXTURE.stem}.html").read_text()
    assert "Show solution" not in page and "download-source-button" not in page


def test_hiding_keeps_the_code_that_runs():
    notebook = without_solutions(nbformat.read(FIXTURE.path, 4))
    code = [c for c in notebook.cells if c.cell_type == "code"]
    removed = [c for c in code if "remove-cell" in c.metadata.get("tags", [])]
    assert len(removed) == 4  # two solutions, two hidden-test halves: still executed, never shown
    assert not [
        c for c in notebook.cells if c.cell_type == "markdown" and "Model answer" in c.source
    ]
    assert not [c for c in code if "HIDDEN" in c.source]


def test_binder_installs_cpu_only_torch_at_the_course_versions():
    binder = (ROOT / "binder" / "requirements.txt").read_text()
    pinned = dict(
        re.findall(
            r"^(torch|torchvision)==([\w.]+)$", (ROOT / "requirements.txt").read_text(), re.M
        )
    )
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in binder.splitlines()
    for package, version in pinned.items():
        assert f"{package}=={version}+cpu" in binder.splitlines()
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK) and "pip install --no-deps ." in post_build.read_text()


def make_targets():
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*):", makefile, re.M))


def test_workflows_parse_and_call_only_existing_make_targets():
    assert WORKFLOWS, "no workflow in .github/workflows"
    called, runs = set(), []
    for path in WORKFLOWS:
        data = workflow(path)
        assert data["on"] and data["jobs"], path.name
        for step in steps(data):
            assert "run" in step or "uses" in step, step
            runs.append(step.get("run", ""))
            called |= set(re.findall(r"\bmake\s+([\w-]+)", step.get("run", "")))
    assert "bash .ci/run" in runs, "CI is .ci/run: the suite in a fresh venv (tests/test_suite.py)"
    assert {"lint", "book", "student-branch"} <= called
    assert called <= make_targets(), called - make_targets()
    for target in called:  # and make can plan each of them
        subprocess.run(["make", "-n", target], cwd=ROOT, check=True, capture_output=True)


def test_workflow_publishes_what_make_student_branch_writes():
    makefile = (ROOT / "Makefile").read_text()
    [written] = re.findall(
        r"^student-branch:.*\n(?:\t.*\n)*?\t.*student-tree (\S+)", makefile, re.M
    )
    dirs = [
        s["with"]["publish_dir"]
        for p in WORKFLOWS
        for s in steps(workflow(p))
        if "publish_dir" in s.get("with", {})
    ]
    assert dirs == [written]


@pytest.mark.parametrize("target", ["release", "release-check", "autograde", "student-branch"])
def test_instructor_targets_exist(target):
    assert target in make_targets()
