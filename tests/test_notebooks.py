"""Every chapter notebook is stored clean and executes in fast mode."""

import ast

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
