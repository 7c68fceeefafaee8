"""The course as nbgrader sees it: one assignment per chapter in ``_toc.yml``."""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: Where ``make release`` stages the chapters as nbgrader's source folder (inside ``_build``).
SOURCE_DIRECTORY = "_build/nbgrader/source"


@dataclass(frozen=True)
class Chapter:
    """A chapter notebook and the nbgrader assignment made from it (``chapters/01_x.ipynb`` → ``ch1``)."""

    path: Path

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def number(self) -> int:
        match = re.match(r"(\d+)_", self.stem)
        if not match:
            raise ValueError(f"{self.path.name}: a chapter's name starts with its number, e.g. 01_")
        return int(match.group(1))

    @property
    def assignment(self) -> str:
        return f"ch{self.number}"


def chapters(root: Path = ROOT) -> list[Chapter]:
    """Every chapter notebook listed in ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [entry["file"] for entry in toc.get("chapters", [])]
    return [Chapter(root / f"{page}.ipynb") for page in pages if (root / f"{page}.ipynb").exists()]


def find_chapter(name: str, root: Path = ROOT) -> Chapter:
    """The chapter called ``name``: ``1``, ``01``, ``ch1`` or ``01_transposed_convolutions``."""
    for chapter in chapters(root):
        if name in (chapter.stem, chapter.assignment, str(chapter.number), f"{chapter.number:02d}"):
            return chapter
    raise SystemExit(f"no chapter {name!r} in _toc.yml")


def repository_url(root: Path = ROOT) -> str:
    """The repository URL from ``_config.yml`` (students' Colab installs the library from there)."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/")


def current_ref(root: Path = ROOT) -> str:
    """The commit checked out in ``root``, for pinning the library in student notebooks."""
    result = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit("not a git checkout: pass the tag or commit to pin with REF=...")
    return result.stdout.strip()


def uncommitted_library(root: Path = ROOT) -> bool:
    """True if the library that Colab installs differs from the commit checked out."""
    command = ["git", "status", "--porcelain", "--", "course_utils", "pyproject.toml"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    return bool(result.stdout.strip())
