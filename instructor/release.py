"""``make release``: nbgrader's ``generate_assignment`` for every chapter, and the release check."""

import json
import re
import shutil
from pathlib import Path

import nbformat

from instructor.api import nbgrader_api
from instructor.cells import (
    HIDDEN_MARKERS,
    MARKERS,
    RELEASE,
    SOLUTION,
    autograded_points,
    grade_id,
    is_solution,
    is_test,
    nbgrader,
    secret_lines,
    sha256,
    stray_markers,
    written_points,
)
from instructor.course import (
    ROOT,
    SOURCE_DIRECTORY,
    Chapter,
    current_ref,
    repository_url,
    uncommitted_library,
)

MANIFEST = ".manifest.json"


def release_files(release: Path) -> dict[str, str]:
    """Checksums of everything in the release folder but the manifest."""
    files = sorted(p for p in release.rglob("*") if p.is_file() and p.name != MANIFEST)
    return {str(p.relative_to(release)): sha256(p) for p in files}


def hand_edits(release: Path) -> list[str]:
    """Files in ``release`` that differ from what the last ``make release`` wrote there."""
    files = release_files(release) if release.exists() else {}
    manifest = release / MANIFEST
    written = json.loads(manifest.read_text())["files"] if manifest.exists() else {}
    changed = [
        f"{name} (edited)" for name in files if name in written and files[name] != written[name]
    ]
    added = [f"{name} (not written by make release)" for name in files if name not in written]
    removed = [f"{name} (deleted)" for name in written if name not in files]
    return changed + added + removed


def release(chapters: list[Chapter], course_root: Path = ROOT, ref: str | None = None, force=False):
    """Write the student version of every chapter to ``course_root/release``; return that folder."""
    out = course_root / RELEASE
    edits = hand_edits(out)
    if edits and not force:
        raise SystemExit(
            "release/ was changed by hand since `make release` wrote it:\n  "
            + "\n  ".join(edits)
            + "\nKeep those changes elsewhere, or run `make release FORCE=1` to overwrite them."
        )
    if ref is None:
        ref = current_ref(ROOT)
        if uncommitted_library(ROOT):
            print(f"Warning: course_utils has uncommitted changes; Colab will install {ref[:12]}.")
    api = nbgrader_api(course_root, CourseSetupCell__ref=ref)
    for chapter in chapters:
        staged = course_root / SOURCE_DIRECTORY / chapter.assignment
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        shutil.copy(chapter.path, staged / chapter.path.name)
        shutil.rmtree(out / chapter.assignment, ignore_errors=True)
        result = api.generate_assignment(chapter.assignment, force=True)
        if not result["success"]:
            raise SystemExit(
                f"nbgrader generate_assignment {chapter.assignment} failed:\n"
                f"{result.get('log', '')}\n{result.get('error', '')}"
            )
    manifest = {"ref": ref, "files": release_files(out)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return out


def check_source(chapter: Chapter) -> list[str]:
    """Problems with a chapter's exercise as authored (see CONTRIBUTING.md)."""
    problems, notebook = [], nbformat.read(chapter.path, as_version=4)
    if not any(is_test(c) for c in notebook.cells):
        problems.append("no graded test cell: every chapter has one exercise in nbgrader's format")
    if not any(c.cell_type == "code" and is_solution(c) for c in notebook.cells):
        problems.append("no solution code cell (### BEGIN SOLUTION … ### END SOLUTION)")
    for index, cell in enumerate(notebook.cells):
        meta, where = nbgrader(cell), f"cell {index}"
        if not meta:
            continue
        if not meta.get("grade_id"):
            problems.append(f"{where}: nbgrader cell without a grade_id")
        if meta.get("grade") and not meta.get("points", 0) > 0:
            problems.append(f"{where} ({meta.get('grade_id')}): graded cell without points")
        if meta.get("solution") and cell.cell_type == "code":
            if not SOLUTION.search(cell.source):
                problems.append(f"{where}: solution cell without ### BEGIN/END SOLUTION")
            if "hide-input" not in cell.metadata.get("tags", []):
                problems.append(
                    f"{where}: solution cell not tagged hide-input (unfolded on the site)"
                )
            if cell.metadata.get("mystnb", {}).get("code_prompt_show") != "Show solution":
                problems.append(f"{where}: solution cell without mystnb code_prompt_show")
        if meta.get("solution") and cell.cell_type == "markdown":
            if not meta.get("grade") or not 1 <= meta.get("points", 0) <= 3:
                problems.append(
                    f"{where} ({meta.get('grade_id')}): a written answer is graded by hand with 1 "
                    f"to 3 points (grade: true, points: N), not grade: {meta.get('grade')}, "
                    f"points: {meta.get('points')}"
                )
            if not re.search(r"\{admonition\}.*\n:class: dropdown", cell.source):
                problems.append(f"{where}: model answer not in a dropdown admonition")
        if len({cell.source.count(marker) for marker in HIDDEN_MARKERS}) > 1:
            problems.append(f"{where}: unbalanced BEGIN/END HIDDEN TESTS")
        for line in stray_markers(cell.source):
            problems.append(f"{where}: a marker shares its line with other text: {line!r}")
    return problems


def check_release(chapter: Chapter, release: Path, ref: str) -> list[str]:
    """Problems with a chapter's student version: anything secret left, or anything lost."""
    path = release / chapter.assignment / chapter.path.name
    if not path.exists():
        return [f"{path} is missing: run `make release`"]
    problems = []
    source = nbformat.read(chapter.path, as_version=4)
    student = nbformat.read(path, as_version=4)
    secrets = secret_lines(source)
    for index, cell in enumerate(student.cells):
        where = f"cell {index}"
        for marker in MARKERS:
            if marker in cell.source:
                problems.append(f"{where}: {marker!r} survived")
        for line in {line.strip() for line in cell.source.splitlines()} & secrets:
            problems.append(f"{where}: solution, hidden test or model answer survived: {line!r}")
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count):
            problems.append(f"{where}: has outputs")
        meta = nbgrader(cell)
        if cell.cell_type == "code" and not grade_id(cell):
            problems.append(f"{where}: code cell without nbgrader id (not restored when grading)")
        if cell.cell_type == "code" and not meta.get("solution") and not meta.get("locked"):
            problems.append(f"{where}: a code cell students write in is not a solution cell")
    for count in (autograded_points, written_points):
        points, released = count(source), count(student)
        if released != points:
            problems.append(
                f"graded cells and points {released} differ from the chapter's {points}"
            )
    setup = student.cells[0].source if student.cells else ""
    if not setup.startswith("# Set-up") or f'COURSE_REF = "{ref}"' not in setup:
        problems.append(f"the first cell is not the set-up cell pinned to {ref}")
    return problems


def check(chapters: list[Chapter], course_root: Path = ROOT) -> dict[str, list[str]]:
    """Every problem with the chapters' exercises and their release, by chapter (empty: all good)."""
    release = course_root / RELEASE
    manifest = release / MANIFEST
    ref = json.loads(manifest.read_text())["ref"] if manifest.exists() else "?"
    report = {}
    ids = {}
    for chapter in chapters:
        problems = check_source(chapter) + check_release(chapter, release, ref)
        for cell in nbformat.read(chapter.path, as_version=4).cells:
            name = grade_id(cell)
            if name and ids.setdefault(name, chapter.stem) != chapter.stem:
                problems.append(f"grade_id {name!r} is also used in {ids[name]}")
        report[chapter.stem] = problems
    if not manifest.exists():
        report["release"] = ["release/.manifest.json is missing: run `make release`"]
    return report


STUDENT_README = """# Student notebooks: Reversing Convolutions to VAEs

This branch is written by the course's release workflow: do not edit it by hand. It holds the
student version of every chapter (`chapters/`), which the Binder and Colab buttons on the course
website open, and the Binder set-up, which installs the course library at commit `{ref}`.
"""


def student_tree(course_root: Path, out: Path) -> Path:
    """The student branch: released notebooks at the site's paths, and a Binder set-up pinned to them."""
    release = course_root / RELEASE
    ref = json.loads((release / MANIFEST).read_text())["ref"]
    shutil.rmtree(out, ignore_errors=True)
    (out / "binder").mkdir(parents=True)
    for notebook in sorted(release.glob("ch*/*.ipynb")):
        (out / "chapters").mkdir(exist_ok=True)
        shutil.copy(notebook, out / "chapters" / notebook.name)
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    pinned = f"course-utils @ git+{repository_url(ROOT)}@{ref}\n"
    (out / "binder" / "requirements.txt").write_text(requirements + pinned)
    (out / "README.md").write_text(STUDENT_README.format(ref=ref))
    return out


def points_table(chapters: list[Chapter]) -> str:
    """Per chapter: autograded code tasks (test cells with points) and their points, written answers
    (graded by hand) and theirs; the totals.

    A task is judged by its own test cell, so one solution cell may hold several tasks (chapter 5's
    ``sample``, ``regularisation`` and ``forward`` are methods of one class). A report only: the
    release check does not judge the counts (tests/test_release.py does).
    """
    rows, totals = [], [0, 0.0, 0, 0.0]
    for chapter in chapters:
        notebook = nbformat.read(chapter.path, as_version=4)
        counts = []
        for graded in (autograded_points(notebook), written_points(notebook)):
            counts += [len(graded), sum(float(p or 0) for p in graded.values())]
        rows.append(f"  {chapter.assignment:<5} {chapter.stem:<40} {row(counts)}")
        totals = [total + count for total, count in zip(totals, counts, strict=True)]
    header = f"  {'':<5} {'chapter':<40} {'tasks':>5} {'points':>7} {'written':>7} {'points':>7}"
    total = f"  {'total':<46} {row(totals)}"
    title = "Autograded code tasks and written answers (graded by hand) per chapter:"
    return "\n".join([title, header, *rows, total])


def row(counts) -> str:
    tasks, points, written, written_total = counts
    return f"{tasks:>5} {points:>7g} {written:>7} {written_total:>7g}"
