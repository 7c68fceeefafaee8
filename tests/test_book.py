"""The site builds (fast mode, warnings as errors) with one page per table-of-contents entry."""

import re

import pytest
from conftest import toc_files

pytestmark = pytest.mark.slow


def test_every_toc_entry_has_a_page(fast_site):
    for page in toc_files():
        html = (fast_site / f"{page}.html").read_text()
        assert "<h1" in html, page


def test_chapter_pages_are_linked_in_order_from_the_landing_page(fast_site):
    index = (fast_site / "intro.html").read_text()
    links = re.findall(r'href="(chapters/[^"#]+)\.html"', index)
    chapters = [page for page in toc_files() if page.startswith("chapters/")]
    assert list(dict.fromkeys(links)) == chapters


def test_executed_chapter_shows_its_figures(fast_site):
    html = (fast_site / "chapters" / "03_convolutional_autoencoders.html").read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= 2
    assert all((fast_site / "chapters" / src).exists() for src in images)


def test_tables_that_cells_print_render_as_tables(fast_site):
    """A cell's Markdown output is rendered as MyST (``nb_render_markdown_format``), not as plain
    CommonMark, which has no tables and shows them as a paragraph of pipes."""
    for page in toc_files():
        html = (fast_site / f"{page}.html").read_text()
        assert not re.search(r"<p>\s*\|", html), f"{page}: a table shows as raw pipes"
    tables = {
        "01_transposed_convolutions": "conv output",  # the output-size table
        "04_auto_encoding": "PCA ÷ auto-encoder",  # the PCA table, displayed mid-cell
    }
    for page, header in tables.items():
        html = (fast_site / "chapters" / f"{page}.html").read_text()
        found = [t for t in re.findall(r"<table.*?</table>", html, re.S) if header in t]
        assert found, f"{page}: no rendered table with the column {header!r}"
        assert "$" not in found[0], f"{page}: maths in the table is not typeset"
