"""Benchmark the course on this machine: data loading, trainer overhead, chapters and a cold build.

    python bench/run.py                    # everything (about 10 minutes on 2 cores)
    python bench/run.py --only data trainer
    python bench/run.py --only grading --chapter 1 --submissions 8
    python bench/run.py --only chapters    # each chapter's median time to grade a submission,
                                           # and where it went (kernel start, cells, guard ...)
    python bench/run.py --only chapters --chapters 2 6   # the same, for chapters 2 and 6 only
    python bench/run.py --only references --seconds 120   # our models against public ones

Prints a table and JSON, and writes the JSON to bench/results/latest.json. The chapter times come
from the cold build itself: every chapter is executed there in full mode, and jupyter-cache records
how long each took.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.references import bench_references  # noqa: E402
from course_utils.data import AutoEncoding, BatchLoader, load_fashion_mnist  # noqa: E402
from course_utils.fastmode import ENV_VAR as FAST_MODE  # noqa: E402
from course_utils.models import AutoEncoder  # noqa: E402
from course_utils.training import Trainer  # noqa: E402

COLD_LOAD = (
    "import time; from course_utils.data import load_fashion_mnist; t = time.perf_counter(); "
    "load_fashion_mnist('train'); load_fashion_mnist('test'); print(time.perf_counter() - t)"
)


def bench_data():
    """Seconds to find, verify and decode both splits in a fresh process (after imports), and again."""
    cold = float(
        subprocess.run(
            [sys.executable, "-c", COLD_LOAD], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout
    )
    load_fashion_mnist("train")
    start = time.perf_counter()
    load_fashion_mnist("train")
    return {
        "data_cold_load_s": round(cold, 3),
        "data_warm_load_s": round(time.perf_counter() - start, 6),
    }


def bare_loop(model, loss_fn, optimiser, loader):
    """The loop every PyTorch tutorial writes: no evaluation, no logging, no progress bar."""
    model.train()
    for x, y in loader:
        optimiser.zero_grad()
        loss_fn(model(x), y).backward()
        optimiser.step()


def bench_trainer(batches=120, repeats=6):
    """Trainer.fit versus the bare loop on the same model and data (train only).

    One warm-up run each, then the two alternate, each going first half the time, so that neither
    inherits a warmer cache; the overhead compares the best run of each (the least disturbed).
    """
    images = load_fashion_mnist("train", limit=batches * 128)
    loader = BatchLoader(AutoEncoding(images), batch_size=128, shuffle=True, seed=0)

    def run(kind):
        torch.manual_seed(0)
        model = AutoEncoder(1, (16, 32), 4, 3)
        optimiser = torch.optim.Adam(model.parameters())
        start = time.perf_counter()
        if kind == "bare":
            bare_loop(model, nn.BCEWithLogitsLoss(), optimiser, loader)
        else:
            Trainer(model, nn.BCEWithLogitsLoss(), optimiser, device="cpu").fit(loader, epochs=1)
        return time.perf_counter() - start

    run("bare"), run("trainer")  # warm-up
    times = {"bare": [], "trainer": []}
    for i in range(repeats):
        for kind in ("bare", "trainer") if i % 2 else ("trainer", "bare"):
            times[kind].append(run(kind))
    bare, fit = min(times["bare"]), min(times["trainer"])
    return {
        "trainer_bare_s": round(bare, 3),
        "trainer_fit_s": round(fit, 3),
        "trainer_overhead": round(fit / bare - 1, 4),
    }


def bench_build():
    """A cold build of the whole book in full mode, into a temporary folder; per-chapter times."""
    from jupyter_cache import get_cache

    env = {k: v for k, v in os.environ.items() if k != FAST_MODE}
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        jupyter_book = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]
        build = ["build", str(ROOT), "--path-output", out, "-W", "--keep-going"]
        subprocess.run(jupyter_book + build, check=True, env=env, stdout=subprocess.DEVNULL)
        result = {"cold_build_s": round(time.perf_counter() - start, 1)}
        for record in get_cache(Path(out) / "_build" / ".jupyter_cache").list_cache_records():
            result[f"chapter_s:{Path(record.uri).stem}"] = round(
                record.data["execution_seconds"], 1
            )
    return result


def solved_course(folder: Path, chapter, submissions: int) -> Path:
    """A released course in ``folder`` where ``submissions`` students hand in the solution."""
    import nbformat

    from instructor import release
    from instructor.cells import RELEASE, SUBMITTED, answered, chapter_notebook

    release.release([chapter], folder, ref="bench")
    student = nbformat.read(chapter_notebook(folder, RELEASE, chapter), 4)
    solution = answered(student, nbformat.read(chapter.path, 4))
    for index in range(submissions):
        path = chapter_notebook(folder, SUBMITTED, chapter, f"student{index:03d}")
        path.parent.mkdir(parents=True)
        nbformat.write(solution, path)
    return folder


def timed_grading(chapter, root: Path, jobs: int):
    """Seconds of a whole ``make autograde`` run, and the results, every submission full marks."""
    from instructor import grading

    start = time.perf_counter()
    graded = grading.autograde(chapter, root, jobs=jobs, quiet=True)
    seconds = time.perf_counter() - start
    assert all(r.graded for r in graded), [r.problems for r in graded]
    return seconds, graded


def bench_grading(chapter="1", submissions=8):
    """``make autograde``: submissions per minute one at a time and two at once (sandboxed).

    The instructor's solution of ``chapter``, submitted by ``submissions`` students, is graded in a
    fresh released course, first with JOBS=1, then with JOBS=2; wall-clock time of the whole run
    (workers, kernels, feedback, CSV) and the median time of one submission.
    """
    import shutil
    import statistics

    from instructor import course

    found = course.find_chapter(str(chapter))
    result = {"grading_chapter": found.assignment, "grading_submissions": submissions}
    with tempfile.TemporaryDirectory() as tmp:
        template = solved_course(Path(tmp) / "template", found, submissions)
        for jobs in (1, 2):
            root = Path(tmp) / f"jobs{jobs}"
            shutil.copytree(template, root)
            seconds, graded = timed_grading(found, root, jobs)
            result[f"grading_jobs{jobs}_s"] = round(seconds, 1)
            result[f"grading_jobs{jobs}_per_minute"] = round(60 * submissions / seconds, 2)
            result[f"grading_jobs{jobs}_median_s"] = round(
                statistics.median(r.seconds for r in graded), 1
            )
            result[f"grading_jobs{jobs}_scores"] = sorted({r.score for r in graded})
    result["grading_speedup_jobs2"] = round(
        result["grading_jobs2_per_minute"] / result["grading_jobs1_per_minute"], 2
    )
    return result


def bench_chapters(submissions=3, numbers=None):
    """Each chapter's median seconds to grade one submission (its solution), one at a time, and
    where they went (``phases``); only the chapters ``numbers`` if given."""
    import statistics

    from instructor import course

    result = {}
    for chapter in course.chapters():
        if numbers and chapter.number not in numbers:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            root = solved_course(Path(tmp), chapter, submissions)
            _, graded = timed_grading(chapter, root, jobs=1)
        median = statistics.median(r.seconds for r in graded)
        result[f"grading_median_s:{chapter.stem}"] = round(median, 1)
        result[f"grading_phases_s:{chapter.stem}"] = phases(graded)
    return result


#: The phases of the kernel's start (``GuardedExecute``), in the order they happen.
START_PHASES = ("sandbox_copy", "kernel_launch", "guard_imports", "guard_snapshot", "kernel_ready")


def phases(graded) -> dict[str, float]:
    """Median seconds of each phase of grading one submission, over ``graded`` (``Result``s).

    ``total`` is the whole; it splits into ``kernel_start`` (itself split into START_PHASES),
    ``cells`` (each cell as ``cell:NAME``), ``guard_checks``, ``kernel_shutdown``,
    ``nbgrader_other`` (the rest of nbgrader's autograde: reading, writing, the gradebook),
    ``feedback`` and ``grader_other`` (the grader's own checks of the submission)."""
    import statistics

    rows = []
    for result in graded:
        times = dict(result.phases)
        cells = sum(v for k, v in times.items() if k.startswith("cell:"))
        execute = cells + sum(
            times.get(k, 0.0) for k in ("kernel_start", "guard_checks", "kernel_shutdown")
        )
        times.update(
            total=result.seconds,
            cells=cells,
            nbgrader_other=times.get("autograde", 0.0) - execute,
            grader_other=result.seconds - times.get("autograde", 0.0) - times.get("feedback", 0.0),
        )
        rows.append(times)
    keys = dict.fromkeys(k for row in rows for k in row)
    return {k: round(statistics.median(row.get(k, 0.0) for row in rows), 3) for k in keys}


def breakdown(results: dict, slowest_cells: int = 4) -> list[str]:
    """Lines that say where each chapter's grading time went, in seconds and shares of the total."""
    lines = []
    for key, times in results.items():
        if not key.startswith("grading_phases_s:"):
            continue

        def part(name, label=None, times=times):
            share = times.get(name, 0.0) / (times["total"] or 1e-9)
            return f"{label or name} {times.get(name, 0.0):.2f} s ({share:.0%})"

        cells = sorted((k for k in times if k.startswith("cell:")), key=times.get, reverse=True)
        slowest = [part(k, k.removeprefix("cell:")) for k in cells[:slowest_cells]]
        lines += [
            f"where the time went, {key.split(':', 1)[1]}: {times['total']:.1f} s per submission "
            "(medians of each phase; under load, read the shares rather than the seconds)",
            f"  {part('kernel_start')}: {', '.join(map(part, START_PHASES))}",
            f"  {part('cells')}; slowest: {', '.join(slowest)}",
            "  " + ", ".join(map(part, ("guard_checks", "kernel_shutdown", "nbgrader_other"))),
            "  " + ", ".join(map(part, ("feedback", "grader_other"))),
        ]
    return lines


#: Grading goals (issue 21): seconds per submission, median in each chapter; JOBS=2 speed-up.
GRADING_MEDIAN_GOAL_S = 10.0
JOBS2_SPEEDUP_GOAL = 1.7


def against_goals(results: dict) -> list[str]:
    """One line per grading measure that has a goal: its value, the goal, and whether it is met."""
    lines = []
    for key, value in results.items():
        if key.startswith("grading_median_s:"):
            met = "met" if value <= GRADING_MEDIAN_GOAL_S else "MISSED"
            lines.append(f"goal {key}: {value} s <= {GRADING_MEDIAN_GOAL_S} s: {met}")
    if "grading_speedup_jobs2" in results:
        value = results["grading_speedup_jobs2"]
        met = "met" if value >= JOBS2_SPEEDUP_GOAL else "MISSED"
        lines.append(f"goal JOBS=2 speed-up: {value}x >= {JOBS2_SPEEDUP_GOAL}x: {met}")
    return lines


BENCHES = {
    "data": bench_data,
    "trainer": bench_trainer,
    "build": bench_build,
    "grading": bench_grading,
    "chapters": bench_chapters,
    "references": bench_references,
}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), default=list(BENCHES))
    parser.add_argument("--chapter", default="1", help="grading: the chapter graded (1)")
    parser.add_argument("--submissions", type=int, default=8, help="grading: how many (8)")
    parser.add_argument(
        "--chapters", type=int, nargs="+", help="chapters: only these (all)", metavar="N"
    )
    parser.add_argument("--seconds", type=int, default=120, help="references: budget each (120)")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
    }
    for name in args.only:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        options = {
            "grading": {"chapter": args.chapter, "submissions": args.submissions},
            "chapters": {"numbers": args.chapters},
            "references": {"seconds": args.seconds},
        }.get(name, {})
        results.update(BENCHES[name](**options))
    scalars = {k: v for k, v in results.items() if not isinstance(v, dict)}
    width = max(map(len, scalars))
    print("\n".join(f"{key:<{width}}  {value}" for key, value in scalars.items()))
    for line in breakdown(results) + against_goals(results):
        print(line)
    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
