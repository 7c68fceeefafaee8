"""The whole book as one PDF (``site/pdf.py``, ``make pdf``), printed from the fast-mode site.

Its text is read back with pypdf: every page of the book, in order, with a bookmark each; none of
the site's navigation; solutions and model answers folded (a solution's code is missing where
ordinary code is found); and as many pictures as the pages show. The joining of the parts and the
error for an unbuilt site are tested without a browser.
"""

import importlib.util
import io
import unicodedata
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import ROOT, toc_files

spec = importlib.util.spec_from_file_location("pdf", ROOT / "site" / "pdf.py")
pdf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pdf)

BOOK = toc_files()
CHROME = [  # text of the site's navigation, footer and buttons
    "Skip to main content",
    "Ctrl+K",
    "Show solution",
    "By The course authors",
    "previous page",
    "next page",
]


def _plain(text):
    """Text as extracted, with ligatures undone and runs of white space as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


@pytest.fixture(scope="module")
def book(fast_site, tmp_path_factory):
    from pypdf import PdfReader

    if not Path(pdf.CHROMIUM).exists():
        pytest.skip(f"no Chromium at {pdf.CHROMIUM}: `make system-deps` installs it")
    output = tmp_path_factory.mktemp("pdf") / "book.pdf"
    pages = pdf.build_pdf(fast_site, output)
    reader = PdfReader(output)
    assert len(reader.pages) == pages
    return reader


@pytest.fixture(scope="module")
def parts(book):
    """Each bookmarked part of the PDF: its title and its pages."""
    starts = [book.get_destination_page_number(item) for item in book.outline]
    ends = starts[1:] + [len(book.pages)]
    return [
        (item.title, book.pages[start:end])
        for item, start, end in zip(book.outline, starts, ends, strict=True)
    ]


def _html(fast_site, page):
    return BeautifulSoup((fast_site / f"{page}.html").read_text(), "html.parser")


def _title(fast_site, page):
    heading = _html(fast_site, page).select_one("article h1")
    heading.select_one("a.headerlink").decompose()
    return heading.get_text().strip()


@pytest.mark.browser
@pytest.mark.slow
def test_book_has_every_page_in_reading_order(parts, fast_site):
    titles = [_title(fast_site, page) for page in BOOK]
    assert [title for title, _ in parts] == titles
    for title, pages in parts:
        assert pages, f"{title}: no pages"
        assert _plain(title) in _plain(pages[0].extract_text()), f"{title}: not on its first page"


@pytest.mark.browser
@pytest.mark.slow
def test_book_has_no_navigation(parts, fast_site):
    for page, (title, pages) in zip(BOOK, parts, strict=True):
        article = _html(fast_site, page).select_one("article")
        for button in article.select("summary, button"):
            button.decompose()
        prose = _plain(article.get_text(" "))  # e.g. the introduction names "Show solution"
        text = _plain(" ".join(p.extract_text() for p in pages))
        assert [c for c in CHROME if c in text and c not in prose] == [], title


def _longest_line(pre):
    return max(pre.get_text().splitlines(), key=len).strip()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("page", [page for page in BOOK if page.startswith("chapters/")])
def test_solutions_stay_folded_and_figures_are_kept(parts, fast_site, page):
    html = _html(fast_site, page)
    pages = dict(parts)[_title(fast_site, page)]
    text = _plain(" ".join(p.extract_text() for p in pages))
    solutions = html.select("details.hide.above-input .cell_input pre")
    assert solutions, "a chapter has a folded solution"
    shown = [
        pre
        for pre in html.select("article .cell_input pre")
        if not pre.find_parent("details") and len(_longest_line(pre)) > 30
    ]
    assert _plain(_longest_line(shown[0])) in text, "ordinary code should be printed"
    printed = [_longest_line(pre) for pre in solutions if _plain(_longest_line(pre)) in text]
    assert printed == [], "a folded solution was printed"
    answers = [  # the first paragraph of each folded model answer
        _plain(answer.select_one(".admonition-title ~ p").get_text())
        for answer in html.select(".dropdown.admonition")
        if answer.select_one(".admonition-title ~ p")
    ]
    assert [answer[:60] for answer in answers if answer in text] == [], "a model answer printed"
    figures = [img for img in html.select("article img") if not img.find_parent("script")]
    pictures = sum(len(p.images) for p in pages)
    assert pictures >= len(figures), f"{len(figures)} figures on the page, {pictures} in the PDF"


def _blank_pdf(pages):
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_join_bookmarks_the_first_page_of_each_part():
    from pypdf import PdfReader

    joined = pdf.join(
        [("Intro", _blank_pdf(2)), ("One", _blank_pdf(3)), ("Two", _blank_pdf(1))], "B"
    )
    reader = PdfReader(io.BytesIO(joined))
    assert len(reader.pages) == 6
    marks = [(item.title, reader.get_destination_page_number(item)) for item in reader.outline]
    assert marks == [("Intro", 0), ("One", 2), ("Two", 5)]
    assert reader.metadata.title == "B"


def test_book_pages_follow_the_table_of_contents():
    assert pdf.book_pages() == BOOK


def test_printing_an_unbuilt_site_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="build the site first"):
        pdf.print_pages(tmp_path, ["intro", "chapters/01_transposed_convolutions"])
