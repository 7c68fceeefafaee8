"""Print the built site to one PDF, the whole book in reading order (``make pdf``).

    python site/pdf.py _build/html _build/pdf/book.pdf

Each page of ``_toc.yml`` is opened in Debian's Chromium (driven by Playwright, as the browser test
does; nothing is downloaded) and printed with the site's print styles (``site/static/course.css``:
no navigation, solutions and model answers folded, figures kept); pypdf joins the pages into one
file with a bookmark per page. Any request for a non-local address is refused.
"""

import argparse
import functools
import io
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MARGIN = {"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"}
FOOTER = (
    '<div style="font-size: 8px; width: 100%; text-align: center; color: #555;">'
    '<span class="title"></span> · <span class="pageNumber"></span></div>'
)


def book_pages(root=ROOT):
    """The pages of the book in reading order, from ``_toc.yml``, without suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    return [toc["root"]] + [entry["file"] for entry in toc["chapters"]]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _only_loopback(route):
    if urlsplit(route.request.url).hostname in LOOPBACK:
        route.continue_()
    else:
        route.abort("blockedbyclient")


def print_pages(site, pages, chromium=CHROMIUM):
    """``[(title, pdf_bytes)]``: each page of the built ``site`` printed to A4 by Chromium."""
    from playwright.sync_api import sync_playwright

    site = Path(site)
    missing = [page for page in pages if not (site / f"{page}.html").is_file()]
    if missing:
        raise FileNotFoundError(
            f"{site} has no {', '.join(p + '.html' for p in missing)}: build the site first "
            "(`make book`, or COURSE_FAST_MODE=1 for a quick draft)"
        )
    if not Path(chromium).exists():
        raise FileNotFoundError(
            f"no Chromium at {chromium}: `make system-deps` installs Debian's chromium"
        )
    handler = functools.partial(_Quiet, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    printed = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
            context = browser.new_context()
            context.set_default_timeout(120_000)
            context.route("**/*", _only_loopback)
            tab = context.new_page()
            for page in pages:
                tab.goto(f"http://127.0.0.1:{server.server_port}/{page}.html")
                _settle(tab)
                title = tab.evaluate("document.querySelector('article h1').textContent")
                pdf = tab.pdf(
                    format="A4",
                    margin=MARGIN,
                    print_background=True,
                    display_header_footer=True,
                    header_template="<span></span>",
                    footer_template=FOOTER,
                )
                printed.append((title.replace("#", "").strip(), pdf))
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return printed


def _settle(tab):
    """Wait until the page's maths is typeset, its widgets drawn and its images and fonts loaded."""
    tab.wait_for_load_state("load")
    tab.evaluate(
        "async () => { const s = window.MathJax && MathJax.startup;"
        " if (s && s.promise) await s.promise; }"
    )
    tab.wait_for_function(
        "() => document.querySelectorAll('.widget-subarea > .jupyter-widgets').length >="
        " document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]')"
        ".length"
    )
    tab.evaluate("async () => { await document.fonts.ready; }")
    tab.wait_for_function("() => [...document.images].every(img => img.complete)")


def join(printed, title):
    """One PDF from ``[(title, pdf_bytes)]``, with a bookmark at the start of each part."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for part_title, pdf in printed:
        start = len(writer.pages)
        writer.append(PdfReader(io.BytesIO(pdf)))
        writer.add_outline_item(title=part_title, page_number=start)
    writer.add_metadata({"/Title": title})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def build_pdf(site, output, chromium=CHROMIUM):
    """Print every page of the book in ``site`` into the PDF ``output``; its number of pages."""
    title = yaml.safe_load((ROOT / "_config.yml").read_text())["title"]
    book = join(print_pages(site, book_pages(), chromium), title)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(book)
    from pypdf import PdfReader

    return len(PdfReader(output).pages)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", help="the built site, e.g. _build/html")
    parser.add_argument("output", help="the PDF to write, e.g. _build/pdf/book.pdf")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    pages = build_pdf(args.site, args.output, args.chromium)
    print(f"{args.output}: {pages} pages")


if __name__ == "__main__":
    main()
