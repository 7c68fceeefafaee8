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
