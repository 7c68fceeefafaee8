"""Every chapter notebook is stored clean and executes in fast mode."""

import ast
import re

import nbformat
import pytest
from conftest import ROOT, chapter_notebooks, toc_files


def test_toc_lists_six_chapters_in_order():
    chapters = [page for page in toc_files() if page.startswith("chapters/")]
    assert [page.split("/")[1][:3] for page in chapters] == [
        "01_",
        "02_",
        "03_",
        "04_",
        "05_",
        "06_",
    ]
    assert all((ROOT / f"{page}.ipynb").exists() for page in chapters)


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        i
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} have outputs; run jupyter nbconvert --clear-output"
    )


# Every chapter executes in fast mode in the site build that tests/conftest.py makes once per run
# (warnings are errors, and a cell that raises stops the build: tests/test_book.py); running the
# chapters again here would only double the suite's time.


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_no_cell_prints_a_stray_value(path):
    """A test cell ends in a statement, and a seed is set quietly: no ``<torch._C.Generator ...>``."""
    stray = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code" or cell.source.rstrip().endswith(";"):
            continue
        tree = ast.parse(cell.source)
        last = tree.body[-1] if tree.body else None
        if not isinstance(last, ast.Expr) or not isinstance(last.value, ast.Call):
            continue
        function = last.value.func
        name = getattr(function, "id", None) or getattr(function, "attr", None)
        meta = cell.metadata.get("nbgrader", {})
        is_test = meta.get("grade") and not meta.get("solution")
        if name == "manual_seed" or (is_test and name != "print"):
            stray.append(f"cell {index}: {ast.get_source_segment(cell.source, last)[:60]}")
    assert not stray, f"{path.name}: these last lines print their value on the page: {stray}"


# Numbers cannot drift: a number in a chapter's text that a cell computes is glued from the cell
# (course_utils.glue, quoted with {glue:text}`name:format`). What stays typed is listed here with
# the reason; anything else with a decimal point or a per cent sign fails.
TYPED = {
    "01_transposed_convolutions": {},
    "02_visualising_features": {},
    "03_convolutional_autoencoders": {},
    "04_auto_encoding": {},
    "05_variational_autoencoders": {},
    "06_balance": {},
}
#: Text that holds no quoted number: code, roles ({cite}, {glue:text}), links, directives.
NOT_PROSE = re.compile(r"`[^`\n]*`|\{[\w:-]+\}`[^`]*`|\]\([^)]*\)|^(```|:).*$", re.M)
PROSE_NUMBER = re.compile(r"(?<![\w.,])\d[\d,]*\.\d+(?![\d.])|(?<![\w.,])\d[\d,.]*\s?%")
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`(?:[^`]*::)?([\w.-]+)(?::[^`]*)?`")
GLUE_CALL = re.compile(r"\bglue\(\s*f?[\"']([\w.{}-]+)[\"']")


def typed_numbers(notebook) -> list[str]:
    """Numbers with a decimal point or a per cent sign typed in the notebook's Markdown, maths too."""
    found = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            found += PROSE_NUMBER.findall(NOT_PROSE.sub(" ", cell.source))
    return [number.replace(" ", "") for number in found]


def drift(notebook, typed: dict) -> list[str]:
    """What would let a quoted number drift: typed numbers not listed, glued names never glued."""
    problems = [
        f"{number!r} is typed in the text: glue it from the cell that computes it"
        for number in typed_numbers(notebook)
        if number not in typed
    ]
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    glued = set(GLUE_CALL.findall(code))
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for name in GLUE_ROLE.findall(cell.source):
                if name not in glued:
                    problems.append(f"{{glue:text}}`{name}` is quoted but no cell glues it")
    return problems


@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_quoted_numbers_are_glued_from_the_computation(path):
    notebook = nbformat.read(path, as_version=4)
    problems = drift(notebook, TYPED[path.stem])
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)
    stale = set(TYPED[path.stem]) - set(typed_numbers(notebook))
    assert not stale, f"{path.name}: TYPED lists numbers the text no longer has: {stale}"
