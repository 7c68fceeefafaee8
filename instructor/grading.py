"""``make autograde CHAPTER=N``: grade every submission of a chapter, safely, in parallel if asked.

Submissions live where nbgrader looks for them, ``submitted/<student>/chN/<notebook>.ipynb``. Each
is graded on its own by nbgrader's ``autograde`` (its kernel sandboxed, see instructor/sandbox.py)
and gets its feedback; a broken one is reported without stopping the others. ``jobs`` workers (each
its own process) grade at once; ``shard=(i, n)`` or ``students`` grades one slice of the class.
The console gets one line per submission and a summary (on a terminal, above a progress bar with
the time left); nbgrader's log, warnings and tracebacks go to ``grades/chN.log``; the grades go to
``grades/chN.csv`` (a slice: ``chN.shard-I-of-N.csv`` or ``chN.students.csv``; the table, its
merge and the console lines are instructor/results.py's), then the class report is written.

The walk of one submission (``grade_one``): the sandbox is told which submitted folder to copy,
nbgrader autogrades and writes the feedback, the submitted and the graded notebook are each read
once, and the gradebook is opened once for the problems and the points.
"""

import logging
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests
from tqdm import tqdm

from instructor import environment, tamper
from instructor import report as class_report
from instructor.api import nbgrader_api
from instructor.cells import (
    AUTOGRADED,
    SUBMITTED,
    cell_name,
    chapter_folder,
    chapter_notebook,
    grade_id,
    sha256,
)
from instructor.course import ROOT, Chapter
from instructor.execute import METADATA
from instructor.feedback import check_feedback
from instructor.restore import RestoreCells
from instructor.results import (
    Result,
    last_line,
    output_name,
    report_line,
    scores,
    summary,
    write_csv,
)
from instructor.sandbox import check_sandbox


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def student_view(source_cell) -> str:
    """A locked cell as the student version shows it: its source without hidden tests."""
    cell = nbformat.v4.new_code_cell(source_cell.source)
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source.strip()


def read_submission(path: Path) -> tuple[nbformat.NotebookNode | None, str | None]:
    """The submitted notebook, or None and why it cannot be read."""
    if not path.exists():
        return None, f"no {path.name} in the submission"
    try:
        return nbformat.read(path, as_version=4), None
    except Exception as error:  # a notebook that is not even JSON
        return None, f"unreadable notebook: {error}"[:200]


def problems_in(
    submission: nbformat.NotebookNode,
    graded: nbformat.NotebookNode | None,
    gradebook: Gradebook,
    chapter: Chapter,
) -> list[str]:
    """Locked cells the student edited or deleted (nbgrader restores them), and cells that raised
    in the ``graded`` notebook (None: not run)."""
    problems = []
    submitted = {grade_id(c): c for c in submission.cells}
    source = gradebook.find_notebook(chapter.stem, chapter.assignment)
    restorable = {cell.name for cell in RestoreCells.restorable(source)}
    for cell in source.source_cells:
        if cell.name not in submitted:
            problems.append(
                f"{cell.name}: deleted{', restored' if cell.name in restorable else ''}"
            )
        elif cell.locked and submitted[cell.name].source.strip() != student_view(cell):
            problems.append(f"{cell.name}: edited, restored")
    if graded is not None:
        for index, cell in enumerate(graded.cells):
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors:
                text = f"{cell_name(cell, index)}: {errors[-1].ename} {errors[-1].evalue}"
                problems.append(text[:160].strip())
    return problems


def select(students: list[str], shard: tuple[int, int] | None, chosen: list[str] | None):
    """The deterministic slice of ``students`` (sorted): every n-th from the i-th, or ``chosen``."""
    if chosen:
        unknown = sorted(set(chosen) - set(students))
        if unknown:
            raise SystemExit(f"no submission from {', '.join(unknown)}")
        return [s for s in students if s in chosen]
    if shard:
        index, count = shard
        if not 1 <= index <= count:
            raise SystemExit(f"SHARD={index}/{count}: say i/n with 1 <= i <= n, e.g. SHARD=1/4")
        return students[index - 1 :: count]
    return students


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` → ``(2, 4)``."""
    if not text:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise SystemExit(f"SHARD={text!r}: say i/n, e.g. SHARD=1/4 for the first of four slices")
    return int(match.group(1)), int(match.group(2))


@dataclass
class Settings:
    """What every worker needs to grade one submission."""

    chapter: Chapter
    course_root: Path
    timeout: int | None
    sandbox: bool
    log: Path
    db_url: str | None
    threads: int | None


_worker: dict = {}


def start_worker(settings: Settings) -> None:
    """Once per worker process: nbgrader's API, and stderr (warnings, kernels) into the log."""
    log = open(settings.log, "a")  # noqa: SIM115 (for the life of the process)
    os.dup2(log.fileno(), 2)
    sys.stderr = log
    logging.captureWarnings(True)
    if settings.threads:
        environment.use_threads(settings.threads)
    config = {"SandboxKernelManager__sandbox": settings.sandbox}
    config["SandboxKernelManager__log_path"] = str(settings.log)
    if settings.timeout:
        config["Execute__timeout"] = settings.timeout
    if settings.db_url:
        config["CourseDirectory__db_url"] = settings.db_url
    os.environ.update(environment.RUN)
    _worker.update(api=nbgrader_api(settings.course_root, **config), settings=settings, log=log)


def grade_one(student: str) -> Result:
    """Autograde one submission and generate its feedback (in a worker); its Result."""
    api, settings, log = _worker["api"], _worker["settings"], _worker["log"]
    chapter, root = settings.chapter, settings.course_root
    result, start = Result(student, sandboxed=settings.sandbox), time.perf_counter()
    # the sandbox copies this folder, and nothing else, as the kernel's working folder
    submitted = chapter_folder(root, SUBMITTED, chapter, student)
    api.config.SandboxKernelManager.submission = str(submitted)
    outcome = api.autograde(chapter.assignment, student, force=True, create=True)
    result.phases["autograde"] = time.perf_counter() - start
    log.write(f"\n===== {student}: autograde =====\n{outcome.get('log', '')}\n")
    log.write(outcome.get("error") or "")
    submission, unreadable = read_submission(submitted / chapter.path.name)
    graded_path = chapter_notebook(root, AUTOGRADED, chapter, student)
    graded = nbformat.read(graded_path, as_version=4) if graded_path.exists() else None
    if graded is not None:
        result.phases.update(graded.metadata.get(METADATA, {}).get("seconds", {}))
    result.flags = tamper_flags(submission, graded)
    late = []  # after the problems with the cells
    if outcome["success"]:
        feedback_start = time.perf_counter()
        feedback = api.generate_feedback(chapter.assignment, student, force=True)
        result.phases["feedback"] = time.perf_counter() - feedback_start
        log.write(f"\n===== {student}: feedback =====\n{feedback.get('log', '')}\n")
        if not feedback["success"]:
            log.write(feedback.get("error") or "")
            late.append("no feedback: " + last_line(feedback.get("error", "")))
        result.flags += check_feedback(root, chapter, student)
    else:
        late.append("NOT GRADED: " + last_line(outcome.get("error", "")))
    with Gradebook(api.coursedir.db_url) as gradebook:
        found = [unreadable] if unreadable else problems_in(submission, graded, gradebook, chapter)
        result.problems = found + late
        if outcome["success"]:
            try:
                result.points, result.max_points = scores(gradebook, chapter, student)
                result.graded = True
            except MissingEntry:
                result.problems.append(f"no {chapter.stem}.ipynb in the submission")
    result.seconds = time.perf_counter() - start
    log.write(f"\n===== {student}: graded in {result.seconds:.1f} s =====\n")
    log.flush()
    return result


def tamper_flags(
    submission: nbformat.NotebookNode | None, graded: nbformat.NotebookNode | None
) -> list[str]:
    """Static flags of the submitted code (None: unreadable), and what the kernel guard found at
    run time in the ``graded`` notebook (None: not run)."""
    found = []
    try:
        found += tamper.flags(submission) if submission is not None else []
    except Exception:  # malformed cells: reported as a problem already
        pass
    if graded is not None:
        report = graded.metadata.get(METADATA, {})
        if report.get("rebound"):
            found.append(
                "rebound at run time (restored for the tests): " + ", ".join(report["rebound"])
            )
        if report.get("guard", "ok") != "ok":
            found.append(f"kernel guard {report['guard']}")
    return found


def autograde(
    chapter: Chapter,
    course_root: Path = ROOT,
    timeout: int | None = None,
    jobs: int = 1,
    shard: tuple[int, int] | None = None,
    students: list[str] | None = None,
    sandbox: bool = True,
    db_url: str | None = None,
    quiet: bool = False,
    progress: bool | None = None,
) -> list[Result]:
    """Grade the submissions of ``chapter`` under ``course_root``; write the CSV, feedback and log.

    ``quiet``: print nothing. ``progress``: show a progress bar (None: only on a terminal).
    """
    submitted = course_root / SUBMITTED
    everyone = sorted(
        p.parent.name for p in submitted.glob(f"*/{chapter.assignment}") if p.is_dir()
    )
    if not everyone:
        raise SystemExit(f"no submissions in {submitted}/<student>/{chapter.assignment}/")
    chosen = select(everyone, shard, students)
    if sandbox:
        check_sandbox()
    if db_url is None and jobs > 1:  # sqlite: wait for the other workers' writes, do not fail
        db_url = f"sqlite:///{course_root / 'gradebook.db'}?timeout=300"
    name = output_name(chapter, shard, students)
    log = course_root / "grades" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    threads = 1 if jobs > 1 else None
    settings = Settings(chapter, course_root, timeout, sandbox, log, db_url, threads)
    before = snapshot(submitted)
    bar = progress_bar(len(chosen), chapter.assignment, show=False if quiet else progress)

    def say(text):
        if not quiet:
            with bar.external_write_mode():  # above the bar
                print(text, flush=True)

    where = "in a sandbox" if sandbox else "WITHOUT a sandbox (SANDBOX=0)"
    say(f"Grading {len(chosen)} submission(s) of {chapter.assignment} {where}, {jobs} at once")
    start = time.perf_counter()
    results = []
    context = multiprocessing.get_context("spawn")
    with bar, ProcessPoolExecutor(jobs, context, start_worker, (settings,)) as pool:
        futures = {pool.submit(grade_one, student): student for student in chosen}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as error:  # a worker that died: say so, grade the others
                result = Result(futures[future], sandboxed=sandbox)
                result.problems.append(f"NOT GRADED: the grading worker failed: {error!r}"[:300])
            results.append(result)
            say(report_line(result))
            bar.update()
    results.sort(key=lambda r: r.student)
    if snapshot(submitted) != before:
        raise RuntimeError("autograding modified the submissions: this must never happen")
    csv_path = course_root / "grades" / f"{name}.csv"
    write_csv(results, csv_path)
    say(summary(results, time.perf_counter() - start, jobs, csv_path, log))
    say(f"Class report: {class_report.write(chapter, course_root, csv_path, db_url)}")
    return results


def progress_bar(total: int, label: str, show: bool | None = None) -> tqdm:
    """A bar on stderr over the submissions, with the time left; ``show=None``: only when stdout and
    stderr are both a terminal (never in a log file or CI)."""
    if show is None:
        show = sys.stdout.isatty() and sys.stderr.isatty()
    return tqdm(total=total, desc=label, unit="submission", file=sys.stderr, disable=not show)
