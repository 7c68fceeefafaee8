"""Feedback without hidden tests, and a check that nothing a student receives leaks a secret.

nbgrader's ``generate_feedback`` renders the autograded notebook, in which the hidden tests were
restored from the gradebook: its feedback shows them verbatim. ``HideTests`` (added to
``GenerateFeedback.preprocessors`` in nbgrader_config.py) removes them first: each test cell keeps
its visible lines, its points and its outputs, but its hidden region becomes one comment, and an
error in a test cell shows only its type and message (a traceback quotes the lines around the
failure, hidden or not).

A student's code can print what the tests are (``inspect`` reading the calling test cell): so
``HideTests`` also redacts, in every output, each line that shows a line of a hidden test.

``leaks(course_root, chapters)`` reads every file in ``release/`` and ``feedback/`` for a line of
a solution, hidden test or model answer (release) or of a hidden test (feedback, where a student's
own solution may well match the instructor's). ``make autograde`` runs ``check_feedback`` on each
student's feedback as it is written: redactions become a tamper flag, and a file that still shows
a hidden test is deleted and flagged.
"""

import html
import re
from pathlib import Path

import jinja2
import nbformat
from nbconvert.exporters import HTMLExporter
from nbgrader.preprocessors import NbGraderPreprocessor

from instructor.cells import (
    FEEDBACK,
    HIDDEN_MARKERS,
    MARKERS,
    RELEASE,
    chapter_folder,
    hidden_test_lines,
    is_test,
    secret_lines,
    without_hidden_tests,
)

PLACEHOLDER = "# (hidden tests: their results are below, their code is not shown)\n"
REDACTED = "[removed from this feedback: it showed a line of a hidden test]"
TAGS = re.compile(r"<[^>]+>")


class CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's compiled templates, kept in memory for the life of the process."""

    def __init__(self):
        self.code = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.code:  # jinja checks it against the template's source
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket):
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


class FeedbackExporter(HTMLExporter):
    """nbconvert's HTML exporter, its templates compiled once per grading worker: nbgrader makes
    a new exporter for each feedback file, which compiled them all again (about 1 s each time)."""

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = COMPILED_TEMPLATES
        return environment


class HideTests(NbGraderPreprocessor):
    """In test cells: hidden tests replaced by a comment, error tracebacks by their message. In
    every output: each line that shows a hidden test (a student's code printed it) redacted."""

    def preprocess(self, nb, resources):
        redact(nb, hidden_test_lines(nb))
        for cell in filter(is_test, nb.cells):
            cell.source = without_hidden_tests(cell.source, PLACEHOLDER)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
        return nb, resources


def _redact_text(text: str, secrets: set[str]) -> tuple[str, int]:
    lines, count = text.splitlines(keepends=True), 0
    for index, line in enumerate(lines):
        if any(secret in line for secret in secrets) or any(m in line for m in HIDDEN_MARKERS):
            lines[index] = REDACTED + ("\n" if line.endswith("\n") else "")
            count += 1
    return "".join(lines), count


def redact(notebook, secrets: set[str]) -> int:
    """Replace, in every output of ``notebook``, each line showing a line of ``secrets`` (or a
    hidden-test marker) by ``REDACTED``; how many lines were replaced."""
    count = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            fields = [(output, "text"), (output, "evalue")]
            fields += [(output.get("data", {}), kind) for kind in output.get("data", {})]
            for owner, key in fields:
                value = owner.get(key)
                if isinstance(value, list):  # nbformat's multi-line strings
                    value = "".join(value)
                if isinstance(value, str):
                    owner[key], found = _redact_text(value, secrets)
                    count += found
            if output.get("traceback"):
                traceback = "\n".join(output["traceback"])
                text, found = _redact_text(traceback, secrets)
                output["traceback"], count = text.split("\n"), count + found
    return count


def text_lines(path: Path) -> set[str]:
    """The stripped lines of a file as a reader sees them (HTML: without tags, unescaped)."""
    text = path.read_text(errors="replace")
    if path.suffix == ".html":
        text = html.unescape(TAGS.sub("", text))
    elif path.suffix == ".ipynb":
        try:
            notebook = nbformat.reads(text, as_version=4)
            text = "\n".join(cell.source for cell in notebook.cells)
        except Exception:  # not a notebook after all: read it as text
            pass
    return {line.strip() for line in text.splitlines()}


def leaks(course_root: Path, chapters, student: str = "*") -> list[str]:
    """``"<file>: <what>"`` for every secret line or marker in ``release/`` or ``feedback/``
    (only ``student``'s feedback if given)."""
    found = []
    for chapter in chapters:
        source = nbformat.read(chapter.path, as_version=4)
        secrets = {
            RELEASE: (secret_lines(source), MARKERS),
            FEEDBACK: (hidden_test_lines(source), HIDDEN_MARKERS),
        }
        for step, (lines, marks) in secrets.items():
            if step == RELEASE and student != "*":
                continue
            owner = student if step == FEEDBACK else None  # "*": every student's
            folder = chapter_folder(Path(), step, chapter, owner)
            paths = course_root.glob(f"{folder.as_posix()}/**/*")
            for path in sorted(p for p in paths if p.is_file()):
                seen = text_lines(path)
                markers = [m for m in marks if any(m in line for line in seen)]
                where = path.relative_to(course_root)
                found += [f"{where}: marker {m!r}" for m in markers]
                found += [f"{where}: {line!r}" for line in sorted(seen & lines)]
    return found


def check_feedback(course_root: Path, chapter, student: str) -> list[str]:
    """Tamper flags for ``student``'s feedback: lines redacted because the student's code showed
    hidden tests, and any file that still shows one (deleted: never handed out as is)."""
    flags = []
    folder = chapter_folder(course_root, FEEDBACK, chapter, student)
    redacted = [p for p in sorted(folder.glob("**/*.html")) if REDACTED in p.read_text()]
    if redacted:
        flags.append(
            "the feedback showed lines of hidden tests (the student's code printed them): "
            "redacted in " + ", ".join(p.name for p in redacted)
        )
    leaked = leaks(course_root, [chapter], student)
    for path in sorted({course_root / line.split(": ")[0] for line in leaked}):
        path.unlink(missing_ok=True)
    if leaked:
        flags.append(
            "feedback deleted, not handed out: it still showed hidden tests: " + "; ".join(leaked)
        )
    return flags
