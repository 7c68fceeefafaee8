"""Every chapter notebook is stored clean and executes in fast mode."""

import os

import nbformat
import pytest
from conftest import ROOT, chapter_notebooks, toc_files
from nbclient import NotebookClient


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


@pytest.mark.slow
@pytest.mark.parametrize("path", chapter_notebooks(), ids=lambda p: p.stem)
def test_executes_in_fast_mode(path, monkeypatch):
    monkeypatch.setenv("COURSE_FAST_MODE", "1")
    monkeypatch.setenv("MPLBACKEND", "agg")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    assert os.environ["COURSE_FAST_MODE"] == "1"
