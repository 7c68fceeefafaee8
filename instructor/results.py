"""The grades of a chapter: each submission's ``Result``, its points from the gradebook, the grades
table (``grades/chN.csv``, or a slice's), the merge of such tables, and the lines the console shows.

``make autograde`` writes the table; ``make merge`` and ``make merge-shards`` join tables; the
class report (instructor/report.py) reads them.
"""

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook

from instructor.course import Chapter

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EXCEPTION = re.compile(r"^[\w.]*(Error|Exception|Interrupt|Exit)\b.*")


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


def scores(gradebook: Gradebook, chapter: Chapter, student: str) -> tuple[dict, dict]:
    """Points and maximum points of each graded cell in a student's submission: the autograded
    tests, and the written answers (their score from formgrader; 0 until graded by hand)."""
    notebook = gradebook.find_submission_notebook(chapter.stem, chapter.assignment, student)
    grades = notebook.grades
    return {g.name: g.score for g in grades}, {g.name: g.max_score for g in grades}


def not_graded_yet(gradebook: Gradebook, chapter: Chapter, student: str) -> set[str]:
    """The written answers of a submission that nobody has graded by hand yet (their score reads 0)."""
    notebook = gradebook.find_submission_notebook(chapter.stem, chapter.assignment, student)
    return {
        g.name for g in notebook.grades if g.cell.cell_type == "markdown" and g.manual_score is None
    }


def output_name(chapter: Chapter, shard, chosen) -> str:
    if chosen:
        return f"{chapter.assignment}.students"
    if shard:
        return f"{chapter.assignment}.shard-{shard[0]}-of-{shard[1]}"
    return chapter.assignment


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


def split(text: str) -> list[str]:
    """The items that ``one_line`` joined."""
    return [item for item in text.split("; ") if item.strip()]


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
        header, table = read_table(path)
        columns += [c for c in header if c not in columns]
        rows.update((row["student"], row) for row in table)
    tests = [c for c in columns if c not in ("student", *COLUMNS_AFTER)]
    header = ["student", *tests, *[c for c in COLUMNS_AFTER if c in columns]]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header, restval="")
        writer.writeheader()
        for student in sorted(rows):
            writer.writerow(rows[student])
    return len(rows)


def read_table(csv_path: Path) -> tuple[list[str], list[dict]]:
    """The columns and rows of a grades table; a file that is not one is refused."""
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or reader.fieldnames[0] != "student":
            raise SystemExit(f"{csv_path}: not a grades file of `make autograde`")
        return list(reader.fieldnames), list(reader)
