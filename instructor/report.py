"""``make report CHAPTER=N``: one HTML page that reads a chapter's grading for the whole class.

It reads the grades table that ``make autograde`` wrote (``grades/chN.csv``: grading time, problems
and tamper flags per submission), the gradebook (points per test cell, an instructor's manual
grades in formgrader included) and the executed notebooks (``autograded/<student>/chN/``: error
messages and time per cell). It writes ``grades/chN.report.html``: the score distribution, the
share of full, partial and zero scores per test cell, the failure messages grouped and ranked with
the students behind each, the problems, flags and grading time of every submission, and the
slowest and least reliable cells. The page is one file: its figures are embedded PNGs, it has no
script and fetches nothing.
"""

import base64
import io
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jinja2
import nbformat
from matplotlib.figure import Figure
from nbgrader.api import Gradebook, MissingEntry

from instructor.api import nbgrader_api
from instructor.cells import AUTOGRADED, cell_name, chapter_notebook
from instructor.course import ROOT, Chapter
from instructor.results import ANSI, not_graded_yet, read_table, scores, split

#: What a problem in the grades table is, by the words in it; the first match wins.
PROBLEM_KINDS = {
    "timeout": re.compile(r"timeout|timed out", re.I),
    "dead kernel": re.compile(r"dead ?kernel|kernel died", re.I),
    "missing or unreadable notebook": re.compile(r"unreadable|no [\w.-]+ in the submission", re.I),
    "read-only cell edited or deleted": re.compile(r": (edited|deleted)\b"),
    "not graded": re.compile(r"NOT GRADED"),
}
#: A written answer that nobody has graded by hand yet is "not graded yet", not "zero".
COLOURS = {"full": "#1b7837", "partial": "#e08214", "zero": "#b2182b", "not graded yet": "#8c8c8c"}
SHOWN = 10  # rows in the tables of slowest and least reliable cells


@dataclass
class Submission:
    """One student's row of the grades table, with the gradebook's points and the executed notebook."""

    student: str
    seconds: float
    problems: list[str]
    flags: list[str]
    graded: bool
    points: dict[str, float] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    #: written answers not graded by hand yet
    not_graded_yet: set[str] = field(default_factory=set)
    notebook: nbformat.NotebookNode | None = None

    @property
    def score(self) -> float:
        return sum(self.points.values())


@dataclass
class Failure:
    """Students whose test cell failed with the same error and (normalised) message."""

    cell: str
    error: str
    message: str
    students: list[str]


def load(chapter: Chapter, csv_path: Path, db_url: str) -> list[Submission]:
    """Every submission in the grades table, with its points from the gradebook if it was graded
    (a submission that failed may have a notebook in the gradebook, but no score in the table)."""
    submissions = []
    with Gradebook(db_url) as gradebook:
        for row in read_table(csv_path)[1]:
            submission = Submission(
                row["student"],
                float(row.get("seconds") or 0),
                split(row.get("problems", "")),
                split(row.get("flags", "")),
                graded=row.get("score", "") != "",
            )
            if submission.graded:
                try:
                    submission.points, submission.max_points = scores(
                        gradebook, chapter, submission.student
                    )
                    submission.not_graded_yet = not_graded_yet(
                        gradebook, chapter, submission.student
                    )
                except MissingEntry:
                    raise SystemExit(
                        f"{submission.student} is graded in {csv_path} but not in the gradebook "
                        f"{db_url}: report from the gradebook that graded them (DB_URL=...)"
                    ) from None
            submissions.append(submission)
    return submissions


def read_notebooks(submissions, course_root: Path, chapter: Chapter) -> None:
    """Attach each graded submission's executed notebook, where there is one."""
    for submission in submissions:
        path = chapter_notebook(course_root, AUTOGRADED, chapter, submission.student)
        if submission.graded and path.exists():
            submission.notebook = nbformat.read(path, as_version=4)


def errors(notebook) -> dict[str, dict]:
    """The last error output of every code cell that raised, by cell name."""
    found = {}
    for index, cell in enumerate(notebook.cells):
        raised = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if raised:
            found[cell_name(cell, index)] = raised[-1]
    return found


def normalise(message: str) -> str:
    """A message with what varies between students taken out: colour codes, addresses, numbers,
    runs of spaces; so that one assert's failures group together."""
    message = ANSI.sub("", message)
    message = re.sub(r"0x[0-9a-fA-F]+", "0x…", message)
    message = re.sub(r"[-+]?\b\d+(\.\d+)?([eE][-+]?\d+)?\b", "#", message)
    return " ".join(message.split())


def failing_line(error) -> str:
    """The test cell's line that raised (IPython marks it ``---->`` in the cell's frame, the first
    in the traceback), for an error without a message."""
    text = ANSI.sub("", "\n".join(error.get("traceback", [])))
    marked = [line for line in text.splitlines() if line.lstrip().startswith("---->")]
    return "at " + re.sub(r"^\s*---->\s*\d*\s*", "", marked[0]) if marked else ""


def failures(submissions, tests: list[str]) -> list[Failure]:
    """The test cells' failures, grouped by cell, error and normalised message; the most common
    first. Each group shows the message most of its students got."""
    groups, messages = defaultdict(list), defaultdict(Counter)
    for submission in submissions:
        if submission.notebook is None:
            continue
        for cell, error in errors(submission.notebook).items():
            if cell in tests:
                message = error.evalue.strip() or failing_line(error)
                key = (cell, error.ename, normalise(message))
                groups[key].append(submission.student)
                messages[key][" ".join(ANSI.sub("", message).split())] += 1
    found = []
    for (cell, ename, normalised), students in groups.items():
        example = messages[cell, ename, normalised].most_common(1)[0][0]
        found.append(Failure(cell, ename, example, sorted(students)))
    return sorted(found, key=lambda f: (-len(f.students), tests.index(f.cell), f.error))


def outcomes(submissions, tests: list[str]) -> dict[str, dict[str, list[str]]]:
    """Per test cell, the graded students with full, partial and zero points, and for a written
    answer those that nobody has graded by hand yet."""
    shares = {cell: {kind: [] for kind in COLOURS} for cell in tests}
    for submission in submissions:
        for cell in tests:
            if cell not in submission.max_points:
                continue
            score, top = submission.points[cell], submission.max_points[cell]
            kind = "full" if score >= top else "zero" if score <= 0 else "partial"
            kind = "not graded yet" if cell in submission.not_graded_yet else kind
            shares[cell][kind].append(submission.student)
    return shares


def kind_of(problem: str) -> str:
    """What kind of problem a line of the grades table's problems column reports."""
    kinds = (kind for kind, words in PROBLEM_KINDS.items() if words.search(problem))
    return next(kinds, "a cell raised an error")


def problem_kinds(submissions) -> dict[str, list[str]]:
    """The students with each kind of problem."""
    kinds = defaultdict(set)
    for submission in submissions:
        for problem in submission.problems:
            kinds[kind_of(problem)].add(submission.student)
    return {kind: sorted(students) for kind, students in sorted(kinds.items())}


def seconds_of(cell) -> float | None:
    """How long a cell ran, from the timestamps nbclient records in its metadata."""
    stamps = cell.metadata.get("execution", {})
    start = stamps.get("iopub.execute_input")
    end = stamps.get("shell.execute_reply") or stamps.get("iopub.status.idle")
    if not (start and end):
        return None
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def cell_times(submissions) -> dict[str, list[float]]:
    """Every code cell's run times, one per executed notebook."""
    times = defaultdict(list)
    for submission in submissions:
        for index, cell in enumerate(getattr(submission.notebook, "cells", [])):
            seconds = seconds_of(cell) if cell.cell_type == "code" else None
            if seconds is not None:
                times[cell_name(cell, index)].append(seconds)
    return dict(times)


def cell_errors(submissions) -> dict[str, list[str]]:
    """The students whose cell raised, by cell, the cell that raised most often first."""
    raised = defaultdict(list)
    for submission in submissions:
        for cell in errors(submission.notebook) if submission.notebook else {}:
            raised[cell].append(submission.student)
    return dict(sorted(raised.items(), key=lambda item: -len(item[1])))


def embedded(figure: Figure) -> str:
    """A figure as a ``data:`` URL of a PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def score_histogram(scores: list[float], top: float) -> Figure:
    """How many students got each total score."""
    figure = Figure(figsize=(8, 3))
    axes = figure.subplots()
    width = max(1.0, top / 20)
    bins = [-width / 2 + width * i for i in range(int(top / width) + 2)]
    axes.hist(scores, bins=bins, color="#2166ac", edgecolor="white")
    axes.set(xlabel=f"total score (of {top:g})", ylabel="students", xlim=(bins[0], bins[-1]))
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def outcome_bars(shares: dict[str, dict[str, list[str]]]) -> Figure:
    """Per test cell, one bar split into the shares of full, partial and zero scores."""
    cells = list(shares)[::-1]  # the first cell on top
    figure = Figure(figsize=(8, 0.5 + 0.45 * len(cells)))
    axes = figure.subplots()
    left = [0.0] * len(cells)
    for kind, colour in COLOURS.items():
        share = [percent(shares[c][kind], shares[c]) for c in cells]
        axes.barh(cells, share, left=left, color=colour, label=kind, edgecolor="white")
        left = [a + b for a, b in zip(left, share, strict=True)]
    axes.set(xlabel="share of graded students (%)", xlim=(0, 100))
    axes.legend(ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def percent(students: list[str], outcome: dict[str, list[str]]) -> float:
    total = sum(len(s) for s in outcome.values())
    return 100 * len(students) / total if total else 0.0


def write(
    chapter: Chapter,
    course_root: Path = ROOT,
    csv_path: Path | None = None,
    db_url: str | None = None,
) -> Path:
    """Write the class report of ``chapter`` next to its grades table; the report's path."""
    csv_path = csv_path or course_root / "grades" / f"{chapter.assignment}.csv"
    config = {"CourseDirectory__db_url": db_url} if db_url else {}
    db_url = nbgrader_api(course_root, **config).coursedir.db_url
    database = Path(db_url.removeprefix("sqlite:///").split("?")[0])
    if not csv_path.exists() or (db_url.startswith("sqlite:///") and not database.exists()):
        missing = csv_path if not csv_path.exists() else database
        raise SystemExit(
            f"{chapter.assignment} has not been graded yet (no {missing}): "
            f"run `make autograde CHAPTER={chapter.number}` first"
        )
    submissions = load(chapter, csv_path, db_url)
    read_notebooks(submissions, course_root, chapter)
    out = csv_path.with_name(f"{csv_path.stem}.report.html")
    out.write_text(render(chapter, csv_path, submissions))
    return out


def render(chapter: Chapter, csv_path: Path, submissions: list[Submission]) -> str:
    """The report's HTML."""
    graded = [s for s in submissions if s.graded]
    points = {cell: top for s in graded for cell, top in s.max_points.items()}
    tests = list(points)
    top = max((sum(s.max_points.values()) for s in graded), default=0)
    scores = [s.score for s in graded]
    shares = outcomes(graded, tests)
    times = cell_times(graded)
    slowest = sorted(times.items(), key=lambda item: -statistics.median(item[1]))[:SHOWN]
    return PAGE.render(
        chapter=chapter,
        source=csv_path.name,
        submissions=submissions,
        graded=graded,
        top=top,
        mean=statistics.mean(scores) if scores else None,
        median=statistics.median(scores) if scores else None,
        histogram=embedded(score_histogram(scores, top)) if graded else None,
        bars=embedded(outcome_bars(shares)) if tests else None,
        shares=shares,
        points=points,
        percent=percent,
        failures=failures(graded, tests),
        kinds=problem_kinds(submissions),
        flagged=[s.student for s in submissions if s.flags],
        slowest=[(cell, statistics.median(t), max(t), len(t)) for cell, t in slowest],
        unreliable=list(cell_errors(graded).items())[:SHOWN],
        runs=len([s for s in graded if s.notebook is not None]),
    )


PAGE = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Class report: {{ chapter.assignment }} ({{ chapter.stem }})</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; color: #1a1a1a; background: #fff; margin: 0; }
main { max-width: 62rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.5rem; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
th, td { border-bottom: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left;
  vertical-align: top; }
th { background: #f0f0f0; } td.number, th.number { text-align: right; }
code { font-size: 0.85rem; overflow-wrap: anywhere; }
img { max-width: 100%; height: auto; }
.flagged { color: #8b0000; font-weight: 600; }
</style>
</head>
<body>
<main>
<h1>Class report: {{ chapter.assignment }} ({{ chapter.stem }})</h1>
<p>From <code>{{ source }}</code> and the gradebook: {{ submissions | length }} submissions,
{{ graded | length }} graded
{%- if mean is not none %}, mean score {{ "%.2f" | format(mean) }} and median
{{ "%g" | format(median) }} of {{ "%g" | format(top) }}{% endif %};
{{ flagged | length }} flagged for review.</p>

<h2 id="scores">Score distribution</h2>
{% if histogram %}
<img src="{{ histogram }}" alt="Histogram of the total scores of {{ graded | length }} graded
students, out of {{ '%g' | format(top) }} points: mean {{ '%.2f' | format(mean) }}, median
{{ '%g' | format(median) }}.">
{% else %}
<p>No submission was graded.</p>
{% endif %}

<h2 id="tests">Test cells: full, partial and zero scores</h2>
{% if bars %}
<img src="{{ bars }}" alt="Share of graded students with full, partial and zero scores per test
cell: {% for cell, outcome in shares.items() %}{{ cell }} {% for kind, students in outcome.items()
%}{{ '%.0f' | format(percent(students, outcome)) }}% {{ kind }}{{ ', ' if not loop.last }}{%
endfor %}{{ '; ' if not loop.last else '.' }}{% endfor %}">
<table>
<caption>Graded students per test cell and outcome (share of the graded)</caption>
<thead><tr><th scope="col">test cell</th><th scope="col" class="number">points</th>
<th scope="col" class="number">full</th><th scope="col" class="number">partial</th>
<th scope="col" class="number">zero</th>
<th scope="col" class="number">not graded yet</th></tr></thead>
<tbody>
{% for cell, outcome in shares.items() %}
<tr><th scope="row">{{ cell }}</th>
<td class="number">{{ '%g' | format(points[cell]) }}</td>
{% for kind, students in outcome.items() %}
<td class="number" data-kind="{{ kind }}">{{ students | length }}
({{ '%.0f' | format(percent(students, outcome)) }}%)</td>
{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>No test cell was graded.</p>
{% endif %}

<h2 id="failures">Failure messages</h2>
{% if failures %}
<table>
<caption>Why test cells failed, the most common first (numbers in messages are ignored when
grouping)</caption>
<thead><tr><th scope="col" class="number">students</th><th scope="col">test cell</th>
<th scope="col">error</th><th scope="col">message</th><th scope="col">who</th></tr></thead>
<tbody>
{% for failure in failures %}
<tr><td class="number">{{ failure.students | length }}</td><td>{{ failure.cell }}</td>
<td>{{ failure.error }}</td><td><code>{{ failure.message }}</code></td>
<td>{{ failure.students | join(', ') }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>No test cell failed.</p>
{% endif %}

<h2 id="submissions">Submissions: problems, tamper flags and grading time</h2>
{% if kinds %}
<ul>
{% for kind, students in kinds.items() %}
<li>{{ kind }}: {{ students | length }} ({{ students | join(', ') }})</li>
{% endfor %}
</ul>
{% else %}
<p>No problems.</p>
{% endif %}
<table>
<caption>Every submission: a flag is not a failure, read the notebook and decide</caption>
<thead><tr><th scope="col">student</th><th scope="col" class="number">score</th>
<th scope="col" class="number">seconds</th><th scope="col">problems</th>
<th scope="col">tamper flags</th></tr></thead>
<tbody>
{% for s in submissions %}
<tr><th scope="row">{{ s.student }}</th>
<td class="number">{{ '%g' | format(s.score) if s.graded else 'not graded' }}</td>
<td class="number">{{ '%.1f' | format(s.seconds) }}</td>
<td>{% for p in s.problems %}{{ p }}{% if not loop.last %}<br>{% endif %}{% endfor %}</td>
<td class="flagged">{% for f in s.flags %}{{ f }}{% if not loop.last %}<br>{% endif %}{%
endfor %}</td></tr>
{% endfor %}
</tbody>
</table>

<h2 id="cells">Slowest and least reliable cells</h2>
{% if slowest %}
<table>
<caption>Slowest code cells, over {{ runs }} executed notebooks</caption>
<thead><tr><th scope="col">cell</th><th scope="col" class="number">median seconds</th>
<th scope="col" class="number">longest seconds</th><th scope="col" class="number">runs</th>
</tr></thead>
<tbody>
{% for cell, median, longest, count in slowest %}
<tr><td>{{ cell }}</td><td class="number">{{ '%.2f' | format(median) }}</td>
<td class="number">{{ '%.2f' | format(longest) }}</td><td class="number">{{ count }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>No cell timings: the executed notebooks have none.</p>
{% endif %}
{% if unreliable %}
<table>
<caption>Cells that raised most often</caption>
<thead><tr><th scope="col">cell</th><th scope="col" class="number">raised in</th>
<th scope="col">who</th></tr></thead>
<tbody>
{% for cell, students in unreliable %}
<tr><td>{{ cell }}</td><td class="number">{{ students | length }} of {{ runs }}</td>
<td>{{ students | join(', ') }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>No cell raised.</p>
{% endif %}
</main>
</body>
</html>
"""
)
