"""``make autograde CHAPTER=N``: grade every submission of a chapter, safely, in parallel if asked.

Submissions live where nbgrader looks for them, ``submitted/<student>/chN/<notebook>.ipynb``. Each
is graded on its own by nbgrader's ``autograde`` (its kernel sandboxed, see instructor/sandbox.py)
and gets its feedback; a broken one is reported without stopping the others. ``jobs`` workers (each
its own process) grade at once; ``shard=(i, n)`` or ``students`` grades one slice of the class.
The console gets one line per submission and a summary (on a terminal, above a progress bar with
the time left); nbgrader's log, warnings and tracebacks go to ``grades/chN.log``; the grades go to
``grades/chN.csv`` (a slice: ``chN.shard-I-of-N.csv`` or ``chN.students.csv``), and ``merge``
joins such files into one.
"""

import csv
import logging
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests
from tqdm import tqdm

from instructor import report as class_report
from instructor import tamper
from instructor.course import ROOT, Chapter
from instructor.execute import METADATA, cell_name
from instructor.feedback import check_feedback
from instructor.preprocessors import RestoreCells
from instructor.release import nbgrader_api, sha256
from instructor.sandbox import check_sandbox

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EXCEPTION = re.compile(r"^[\w.]*(Error|Exception|Interrupt|Exit)\b.*")
#: Thread pools of the maths libraries: one thread per kernel when several kernels share the CPUs.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass
class Result:
    """One student's grade for a chapter: points per test cell, and what went wrong."""

    student: str
    points: dict[str, float] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    graded: bool = False
    problems: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    sandboxed: bool = True
    #: Where the seconds went (for the bench): nbgrader's autograde and feedback, and within
    #: autograde the kernel's start, each cell, the guard's checks (``GuardedExecute``).
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(self.points.values())


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
    restorable = {cell.name for cell in RestoreCells.restorable(source)}
    for cell in source.source_cells:
        if cell.name not in submitted:
            problems.append(
                f"{cell.name}: deleted{', restored' if cell.name in restorable else ''}"
            )
        elif cell.locked and submitted[cell.name].source.strip() != student_view(cell):
            problems.append(f"{cell.name}: edited, restored")
    if graded.exists():
        for index, cell in enumerate(nbformat.read(graded, as_version=4).cells):
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors:
                text = f"{cell_name(cell, index)}: {errors[-1].ename} {errors[-1].evalue}"
                problems.append(text[:160].strip())
    return problems


def scores(gradebook: Gradebook, chapter: Chapter, student: str) -> tuple[dict, dict]:
    """Points and maximum points of each graded cell in a student's submission: the autograded
    tests, and the written answers (their score from formgrader; 0 until graded by hand)."""
    notebook = gradebook.find_submission_notebook(chapter.stem, chapter.assignment, student)
    grades = notebook.grades
    return {g.name: g.score for g in grades}, {g.name: g.max_score for g in grades}


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


def output_name(chapter: Chapter, shard, chosen) -> str:
    if chosen:
        return f"{chapter.assignment}.students"
    if shard:
        return f"{chapter.assignment}.shard-{shard[0]}-of-{shard[1]}"
    return chapter.assignment


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
        for name in THREAD_VARIABLES:
            os.environ[name] = str(settings.threads)
        torch_threads(settings.threads)
    config = {"SandboxKernelManager__sandbox": settings.sandbox}
    config["SandboxKernelManager__log_path"] = str(settings.log)
    if settings.timeout:
        config["Execute__timeout"] = settings.timeout
    if settings.db_url:
        config["CourseDirectory__db_url"] = settings.db_url
    os.environ.update(COURSE_FAST_MODE="1", MPLBACKEND="agg")
    _worker.update(api=nbgrader_api(settings.course_root, **config), settings=settings, log=log)


def torch_threads(count: int) -> None:
    try:
        import torch

        torch.set_num_threads(count)
    except ImportError:  # pragma: no cover (torch is a course requirement)
        pass


def grade_one(student: str) -> Result:
    """Autograde one submission and generate its feedback (in a worker); its Result."""
    api, settings, log = _worker["api"], _worker["settings"], _worker["log"]
    chapter, root = settings.chapter, settings.course_root
    result, start = Result(student, sandboxed=settings.sandbox), time.perf_counter()
    submission = root / "submitted" / student / chapter.assignment / chapter.path.name
    graded = root / "autograded" / student / chapter.assignment / chapter.path.name
    outcome = api.autograde(chapter.assignment, student, force=True, create=True)
    result.phases["autograde"] = time.perf_counter() - start
    log.write(f"\n===== {student}: autograde =====\n{outcome.get('log', '')}\n")
    log.write(outcome.get("error") or "")
    with Gradebook(api.coursedir.db_url) as gradebook:
        result.problems = problems_in(submission, graded, gradebook, chapter)
    report = run_report(graded)
    result.phases.update(report.get("seconds", {}))
    result.flags = tamper_flags(submission, report)
    if outcome["success"]:
        feedback_start = time.perf_counter()
        feedback = api.generate_feedback(chapter.assignment, student, force=True)
        result.phases["feedback"] = time.perf_counter() - feedback_start
        log.write(f"\n===== {student}: feedback =====\n{feedback.get('log', '')}\n")
        if not feedback["success"]:
            log.write(feedback.get("error") or "")
            result.problems.append("no feedback: " + last_line(feedback.get("error", "")))
        result.flags += check_feedback(root, chapter, student)
        with Gradebook(api.coursedir.db_url) as gradebook:
            try:
                result.points, result.max_points = scores(gradebook, chapter, student)
                result.graded = True
            except MissingEntry:
                result.problems.append(f"no {chapter.stem}.ipynb in the submission")
    else:
        result.problems.append("NOT GRADED: " + last_line(outcome.get("error", "")))
    result.seconds = time.perf_counter() - start
    log.write(f"\n===== {student}: graded in {result.seconds:.1f} s =====\n")
    log.flush()
    return result


def run_report(graded: Path) -> dict:
    """What ``GuardedExecute`` recorded in the graded notebook (empty if there is none)."""
    if not graded.exists():
        return {}
    return nbformat.read(graded, as_version=4).metadata.get(METADATA, {})


def tamper_flags(submission: Path, report: dict) -> list[str]:
    """Static flags of the submitted code, and what the kernel guard found at run time
    (``report``: see ``run_report``)."""
    found = []
    try:
        found += tamper.flags(nbformat.read(submission, as_version=4))
    except Exception:  # unreadable: reported as a problem already
        pass
    if report.get("rebound"):
        found.append(
            "rebound at run time (restored for the tests): " + ", ".join(report["rebound"])
        )
    if report.get("guard", "ok") != "ok":
        found.append(f"kernel guard {report['guard']}")
    return found


def last_line(text: str) -> str:
    """The most telling line of a traceback or log: its last exception other than nbgrader's
    "see the above traceback", else its last line; without colour codes."""
    lines = [line.strip() for line in ANSI.sub("", text or "").splitlines() if line.strip()]
    errors = [
        line
        for line in lines
        if EXCEPTION.match(line) and not line.startswith("nbgrader.converters.base.NbGrader")
    ]
    chosen = errors[-1] if errors else lines[-1] if lines else "(no message; see the log)"
    return chosen[:300]


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
    submitted = course_root / "submitted"
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


def summary(results: list[Result], seconds: float, jobs: int, csv_path: Path, log: Path) -> str:
    graded = [r for r in results if r.graded]
    flagged = [r.student for r in results if r.flags]
    failed = [r.student for r in results if not r.graded]
    lines = [
        f"Graded {len(graded)} of {len(results)} in {seconds:.0f} s ({jobs} at once, "
        f"{60 * len(results) / max(seconds, 1e-9):.1f} per minute)",
    ]
    if graded:
        total = sum(graded[0].max_points.values())
        mean = sum(r.score for r in graded) / len(graded)
        lines.append(f"Mean score {mean:.2f} of {total:g}")
    if failed:
        lines.append(f"NOT graded ({len(failed)}): {', '.join(failed)}")
    if flagged:
        lines.append(f"Flagged for review ({len(flagged)}): {', '.join(flagged)}")
    if results and not results[0].sandboxed:
        lines.append("Graded WITHOUT a sandbox (SANDBOX=0): the CSV says so in every row")
    lines.append(f"Grades: {csv_path}")
    lines.append(f"Log (nbgrader, warnings, tracebacks): {log}")
    return "\n".join(lines)


def report_line(result: Result) -> str:
    """One line for the console: student, grade, time, problems and flags."""
    total = sum(result.max_points.values())
    grade = f"{result.score:g}/{total:g}" if result.graded else "NOT GRADED"
    line = f"{result.student}: {grade} in {result.seconds:.1f} s"
    if result.problems:
        line += f" | problems: {one_line(result.problems)}"
    if result.flags:
        line += f" | FLAGGED: {one_line(result.flags)}"
    return line


def one_line(items: list[str]) -> str:
    """Items joined into one readable line: no colour codes, newlines or runs of spaces."""
    return "; ".join(" ".join(ANSI.sub("", item).split()) for item in items)


COLUMNS_AFTER = ["score", "max_score", "seconds", "sandboxed", "problems", "flags"]


def write_csv(results: list[Result], path: Path) -> None:
    """One row per student: points per test cell, total, maximum, seconds, problems and flags."""
    cells = list(dict.fromkeys(name for r in results for name in r.max_points))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *cells, *COLUMNS_AFTER])
        for r in results:
            points = [r.points.get(name, "") for name in cells]
            total = sum(r.max_points.values()) if r.graded else ""
            score = r.score if r.graded else ""
            sandboxed = "yes" if r.sandboxed else "NO (graded unsandboxed, SANDBOX=0)"
            writer.writerow(
                [r.student, *points, score, total, f"{r.seconds:.1f}", sandboxed]
                + [one_line(r.problems), one_line(r.flags)]
            )


def merge(paths: list[Path], out: Path) -> int:
    """Join grade tables (shards, regrades) into ``out``; a later file's row for a student wins."""
    rows, columns = {}, []
    for path in paths:
        if not path.exists():
            raise SystemExit(f"{path}: no such grades file")
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or reader.fieldnames[0] != "student":
                raise SystemExit(f"{path}: not a grades file of `make autograde`")
            columns += [c for c in reader.fieldnames if c not in columns]
            for row in reader:
                rows[row["student"]] = row
    tests = [c for c in columns if c not in ("student", *COLUMNS_AFTER)]
    header = ["student", *tests, *[c for c in COLUMNS_AFTER if c in columns]]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header, restval="")
        writer.writeheader()
        for student in sorted(rows):
            writer.writerow(rows[student])
    return len(rows)
