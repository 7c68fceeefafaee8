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
CONSTANT = "a constant of the chapter's code (checked below: the code holds it)"
VAE_EXAMPLE = "PyTorch's example VAE on Fashion-MNIST, ten epochs, measured outside the chapter"
SPLITS = "the size of a Fashion-MNIST split: 60,000 training and 10,000 test images"
TYPED = {
    "01_transposed_convolutions": {},
    "02_visualising_features": {"80%": CONSTANT, "2000": CONSTANT},
    "03_convolutional_autoencoders": {
        **dict.fromkeys(["0.05", "0.95", "1000"], CONSTANT),
        "10000": SPLITS,
    },
    "04_auto_encoding": {
        **dict.fromkeys(["0.05", "0.95", "0.5", "0.1", "3000", "1500"], CONSTANT),
        "6272": "784 × 8 bits, worked out in the same sentence",
        "0.0121": "a StTom88-shaped auto-encoder's test error, measured outside the chapter",
    },
    "05_variational_autoencoders": {
        **dict.fromkeys(["0.05", "0.95", "2.5"], CONSTANT),
        **dict.fromkeys(["243.9", "227.9", "16.0"], VAE_EXAMPLE),
        **dict.fromkeys(["60000", "10000"], SPLITS),
    },
    "06_balance": {
        **dict.fromkeys(["0.05", "0.95", "0.5", "0.01", "2000", "1000"], CONSTANT),
        **dict.fromkeys(["60000", "10000"], SPLITS),
        "2.9": "the verdict's 2 nats in bits (2 / ln 2), arithmetic on a constant",
        "105.5": "PyTorch's example VAE on MNIST, quoted from issue 5 (the chapter says it is not ours)",
        **dict.fromkeys(["243.9", "227.9", "16.0"], VAE_EXAMPLE),
    },
}
#: Text that holds no quoted number: code, roles ({cite}, {glue:text}), links, directives.
NOT_PROSE = re.compile(r"`[^`\n]*`|\{[\w:-]+\}`[^`]*`|\]\([^)]*\)|^(```|:).*$", re.M)
PROSE_NUMBER = re.compile(
    r"(?<![\w.,])\d[\d,]*\.\d+(?![\d.])"  # a decimal: 0.0121
    r"|(?<![\w.,])\d[\d,.]*\s?%"  # a percentage: 45 %
    r"|(?<![\w.,])\d{1,3}(?:[, ]\d{3})+(?![\d.,])"  # thousands: 5,000 or 5 000
    r"|(?<![\w.,])\d+(?=\s+epochs?\b)"  # a number of epochs: 120 epochs
)
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`(?:[^`]*::)?([\w.-]+)(?::[^`]*)?`")
GLUE_CALL = re.compile(r"\bglue\(\s*[\"']([\w.-]+)[\"']")


def typed_numbers(notebook) -> list[str]:
    """Numbers typed in the notebook's Markdown, maths too: decimals, percentages, thousands
    (as plain digits: 5,000 as 5000) and numbers of epochs."""
    found = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            found += PROSE_NUMBER.findall(NOT_PROSE.sub(" ", cell.source))
    return [
        re.sub(r"[, ]", "", n) if re.fullmatch(r"[\d, ]+", n) else n.replace(" ", "") for n in found
    ]


def in_code(number: str, code: str) -> bool:
    """Whether ``code`` holds the typed ``number`` (a percentage as a fraction: 80% as 0.8; a whole
    number as written in Python: 2000 or 2_000)."""
    if number.isdigit():
        digits = f"{int(number):_}".replace("_", "_?")
        return re.search(rf"(?<![\w.]){digits}(?![\d_.])", code) is not None
    value = float(number[:-1]) / 100 if number.endswith("%") else float(number)
    return re.search(rf"(?<![\w.]){re.escape(repr(value))}(?![\d])", code) is not None


def drift(notebook, typed: dict) -> list[str]:
    """What would let a quoted number drift: typed numbers not listed, listed constants the code
    does not hold, glued names no cell glues."""
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    problems = []
    for number in typed_numbers(notebook):
        if number not in typed:
            problems.append(
                f"{number!r} is typed in the text: glue it from the cell that computes it"
            )
        elif typed[number] == CONSTANT and not in_code(number, code):
            problems.append(f"{number!r} is typed as a constant of the code, but no cell holds it")
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


def test_a_drifted_number_is_caught():
    """A glued number typed back by hand, a constant that no longer matches the code, and a glued
    name that no cell glues all fail the check."""
    path = ROOT / "chapters" / "06_balance.ipynb"
    notebook = nbformat.read(path, as_version=4)
    assert drift(notebook, TYPED[path.stem]) == []
    [cell] = [c for c in notebook.cells if "{glue:text}`two_epoch_elbo:.1f`" in c.source]
    cell.source = cell.source.replace("{glue:text}`two_epoch_elbo:.1f`", "257.8")
    assert drift(notebook, TYPED[path.stem]) == [
        "'257.8' is typed in the text: glue it from the cell that computes it"
    ]
    cell.source = cell.source.replace("257.8", "{glue:text}`two_epoch_elbow:.1f`")
    [summary] = [
        c for c in notebook.cells if "{glue:text}`shipped_epochs` epochs, which" in c.source
    ]
    summary.source = summary.source.replace("{glue:text}`shipped_epochs` epochs", "120 epochs")
    assert drift(notebook, TYPED[path.stem]) == [
        "'120' is typed in the text: glue it from the cell that computes it",
        "{glue:text}`two_epoch_elbow` is quoted but no cell glues it",
    ]
    summary.source = summary.source.replace("120 epochs", "{glue:text}`shipped_epochs` epochs")
    [cell] = [c for c in notebook.cells if "(below 0.05)" in c.source]
    cell.source = cell.source.replace("(below 0.05)", "(below 0.04)")
    assert drift(notebook, {**TYPED[path.stem], "0.04": CONSTANT}) == [
        "'0.04' is typed as a constant of the code, but no cell holds it",
        "{glue:text}`two_epoch_elbow` is quoted but no cell glues it",
    ]


def test_typed_numbers_finds_thousands_and_epochs_and_in_code_finds_python_literals():
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("On 55,000 images, 5 000 held out, 3 epochs, 45 %.")]
    )
    assert typed_numbers(notebook) == ["55000", "5000", "3", "45%"]
    assert in_code("55000", "limit = 55_000") and in_code("5000", "n = 5000")
    assert not in_code("5000", "n = 50000") and not in_code("5000", "x = 5000.5")
