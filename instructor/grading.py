"""``make autograde CHAPTER=N``: nbgrader's ``autograde`` and feedback for every submission found.

Submissions live where nbgrader looks for them, ``submitted/<student>/chN/<notebook>.ipynb``. Each
is graded on its own, in fast mode, so that a broken one is reported without stopping the others;
the grades go to ``grades/chN.csv`` and the feedback to ``feedback/<student>/chN/``.
"""

import csv
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests

from instructor.course import ROOT, Chapter
from instructor.release import nbgrader_api, sha256


@dataclass
class Result:
    """One student's grade for a chapter: points per test cell, and what went wrong."""

    student: str
    points: dict[str, float] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    graded: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(self.points.values())


@contextmanager
def environment(**values):
    """Set environment variables (the kernels that nbgrader starts inherit them) for a while."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def student_view(source_cell) -> str:
    """A locked cell as the student version shows it: its source without hidden tests."""
    cell = nbformat.v4.new_code_cell(source_cell.source)
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source.strip()


def problems_in(
    submission: Path, graded: Path, gradebook: Gradebook, chapter: Chapter
) -> list[str]:
    """Locked cells the student edited or deleted (nbgrader restores them), and cells that raised."""
    if not submission.exists():
        return [f"no {submission.name} in the submission"]
    problems = []
    try:
        cells = nbformat.read(submission, as_version=4).cells
    except Exception as error:  # a notebook that is not even JSON
        return [f"unreadable notebook: {error}"[:200]]
    submitted = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in cells}
    source = gradebook.find_notebook(chapter.stem, chapter.assignment)
    restorable = {cell.name for cell in source.grade_cells}
    for cell in source.source_cells:
        if cell.name not in submitted:
            restored = ", restored" if cell.name in restorable else ", NOT restored"
            problems.append(f"{cell.name}: deleted{restored if cell.locked else ''}")
        elif cell.locked and submitted[cell.name].source.strip() != student_view(cell):
            problems.append(f"{cell.name}: edited, restored")
    if graded.exists():
        for index, cell in enumerate(nbformat.read(graded, as_version=4).cells):
            name = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors:
                problems.append(f"{name}: {errors[-1].ename} {errors[-1].evalue}"[:160].strip())
    return problems


def scores(gradebook: Gradebook, chapter: Chapter, student: str) -> tuple[dict, dict]:
    """Points and maximum points of each autograded test cell in a student's submission."""
    notebook = gradebook.find_submission_notebook(chapter.stem, chapter.assignment, student)
    tests = [g for g in notebook.grades if g.cell_type == "code"]
    return {g.name: g.score for g in tests}, {g.name: g.max_score for g in tests}


def autograde(
    chapter: Chapter, course_root: Path = ROOT, timeout: int | None = None
) -> list[Result]:
    """Grade every submission of ``chapter`` under ``course_root``; write the CSV and feedback."""
    submitted = course_root / "submitted"
    students = sorted(
        p.parent.name for p in submitted.glob(f"*/{chapter.assignment}") if p.is_dir()
    )
    if not students:
        raise SystemExit(f"no submissions in {submitted}/<student>/{chapter.assignment}/")
    before = snapshot(submitted)
    config = {"Execute__timeout": timeout} if timeout else {}
    api = nbgrader_api(course_root, **config)
    results = []
    with environment(COURSE_FAST_MODE="1", MPLBACKEND="agg"):
        for student in students:
            result, start = Result(student), time.perf_counter()
            outcome = api.autograde(chapter.assignment, student, force=True, create=True)
            result.seconds = time.perf_counter() - start
            graded = course_root / "autograded" / student / chapter.assignment / chapter.path.name
            submission = submitted / student / chapter.assignment / chapter.path.name
            with Gradebook(api.coursedir.db_url) as gradebook:
                result.problems = problems_in(submission, graded, gradebook, chapter)
            if outcome["success"]:
                feedback = api.generate_feedback(chapter.assignment, student, force=True)
                if not feedback["success"]:
                    result.problems.append("no feedback: " + feedback.get("error", "")[-200:])
                with Gradebook(api.coursedir.db_url) as gradebook:
                    try:
                        result.points, result.max_points = scores(gradebook, chapter, student)
                        result.graded = True
                    except MissingEntry:
                        result.problems.append(f"no {chapter.stem}.ipynb in the submission")
            else:
                result.problems.append("NOT GRADED: " + outcome.get("error", "").strip()[-300:])
            results.append(result)
            print(report_line(result), flush=True)
    if snapshot(submitted) != before:
        raise RuntimeError("autograding modified the submissions: this must never happen")
    write_csv(results, course_root / "grades" / f"{chapter.assignment}.csv")
    return results


def report_line(result: Result) -> str:
    total = sum(result.max_points.values())
    grade = f"{result.score:g}/{total:g}" if result.graded else "not graded"
    problems = "; ".join(result.problems) or "ok"
    return f"{result.student}: {grade} in {result.seconds:.1f} s ({problems})"


def write_csv(results: list[Result], path: Path) -> None:
    """One row per student: points per test cell, total, maximum, seconds, and problems."""
    cells = list(dict.fromkeys(name for r in results for name in r.max_points))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *cells, "score", "max_score", "seconds", "problems"])
        for r in results:
            points = [r.points.get(name, "") for name in cells]
            total = sum(r.max_points.values()) if r.graded else ""
            score = r.score if r.graded else ""
            writer.writerow(
                [r.student, *points, score, total, f"{r.seconds:.1f}", "; ".join(r.problems)]
            )
