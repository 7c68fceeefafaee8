"""The built site as a reader sees it, in headless Chromium, with nothing fetched from outside.

The fast-mode build (``fast_site``; set ``COURSE_SITE`` to test an existing ``_build/html``) is
served on a loopback port, gzipped as a static host serves it, and every page is opened in Debian's
Chromium driven by Playwright. Any request for a non-local address is aborted and fails the test.
A full-page screenshot of every page, and ``page-weights.json``, go to ``_build/screenshots/`` (or
``$COURSE_SCREENSHOTS``).
"""

import functools
import gzip
import html as html_module
import json
import os
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from conftest import ROOT, toc_files

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTEFACTS = Path(os.environ.get("COURSE_SCREENSHOTS", ROOT / "_build" / "screenshots"))
BOOK = toc_files()  # intro, the chapters, the glossary: the reading order
CHAPTERS = [page for page in BOOK if page.startswith("chapters/")]
PAGES = BOOK + ["search", "genindex"]  # every HTML page of the site but index.html, a redirect
PAGE_WEIGHT_LIMIT = 3_000_000  # bytes a first visit downloads, images and scripts included
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# What static hosts (GitHub Pages included) send compressed; images and fonts are sent as they are.
COMPRESSED = {".html", ".js", ".css", ".json", ".svg", ".txt", ".ipynb", ".inv", ".map"}


class StaticHost(SimpleHTTPRequestHandler):
    """Serves a folder as a static host does: text gzipped for browsers that accept it."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        wants_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (wants_gzip and path.suffix in COMPRESSED and path.is_file()):
            return super().do_GET()
        body = _gzipped(path, path.stat().st_mtime_ns)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@functools.cache
def _gzipped(path, mtime):
    return gzip.compress(path.read_bytes(), compresslevel=6)


@pytest.fixture(scope="module")
def site_url(fast_site):
    handler = functools.partial(StaticHost, directory=str(fast_site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make system-deps` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Reader:
    """A fresh browser profile on the site that records what a reader's browser complains about."""

    def __init__(self, chromium, site_url):
        self.site_url = site_url
        self.errors, self.failed, self.external, self.finished = [], [], [], []
        self.context = chromium.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(60_000)  # generous: CI machines and shared cores are slow
        self.context.route("**/*", self._only_loopback)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        self.page.on("response", self._response)
        self.page.on("requestfinished", lambda request: self.finished.append(request))

    def _only_loopback(self, route):
        url = route.request.url
        if urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            self.external.append(url)
            route.abort("blockedbyclient")

    def _console(self, message):
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _response(self, response):
        if response.status >= 400:
            self.failed.append(f"{response.url}: HTTP {response.status}")

    def open(self, path):
        """Open a page and wait until its maths is typeset and its widgets are drawn."""
        self.page.goto(self.site_url + path)
        self.settle()

    def settle(self):
        self.page.wait_for_load_state("load")
        self.page.evaluate(
            "async () => { const s = window.MathJax && MathJax.startup;"
            " if (s && s.promise) await s.promise; }"
        )
        self.page.wait_for_function(
            "() => { const views = document.querySelectorAll("
            "  'script[type=\"application/vnd.jupyter.widget-view+json\"]');"
            " const drawn = [...document.querySelectorAll('.widget-subarea')]"
            "  .filter(area => area.querySelector('.jupyter-widgets'));"
            " return drawn.length >= views.length; }"
        )
        # fonts and images are fetched last; wait for them rather than for network silence
        self.page.evaluate("async () => { await document.fonts.ready; }")
        self.page.wait_for_function("() => [...document.images].every(img => img.complete)")

    def close(self):
        self.context.close()


@pytest.fixture
def reader(chromium, site_url):
    reader = Reader(chromium, site_url)
    yield reader
    reader.close()


PAGE_FACTS = """() => {
  const article = document.querySelector('article') || document.body;
  const images = [...document.images].map(img => ({
    src: img.getAttribute('src'), alt: img.getAttribute('alt'),
    loaded: img.complete && img.naturalWidth > 0,
    authored: article.contains(img) && !img.closest('.jupyter-widgets'),
  }));
  const prose = article.cloneNode(true);
  prose.querySelectorAll('pre, code, script, style, mjx-container').forEach(e => e.remove());
  const maths = [...article.querySelectorAll('.math')];
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  return {
    images,
    maths: maths.length,
    typeset: maths.filter(m => m.querySelector('mjx-container')).length,
    raw_maths: ['$$', '\\\\[', '\\\\('].filter(d => prose.textContent.includes(d)),
    widget_views: views.length,
    widgets_drawn: document.querySelectorAll('.widget-subarea > .jupyter-widgets').length,
    widget_errors: [...document.querySelectorAll('.widget-subarea')]
      .filter(a => /Error displaying widget|Loading widget/.test(a.textContent)).length,
  };
}"""


@pytest.fixture(scope="module")
def visits(chromium, site_url, fast_site):
    """Open each page once in a fresh profile: what went wrong, what it weighs, a screenshot."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    cache = {}

    def visit(page):
        if page not in cache:
            reader = Reader(chromium, site_url)
            try:
                reader.open(f"{page}.html")
                facts = reader.page.evaluate(PAGE_FACTS)
                reader.page.screenshot(
                    path=ARTEFACTS / f"{page.replace('/', '--')}.png", full_page=True
                )
                facts.update(
                    errors=reader.errors,
                    failed=reader.failed,
                    external=reader.external,
                    weight=_weight(reader.finished, fast_site),
                )
            finally:
                reader.close()
            cache[page] = facts
        return cache[page]

    yield visit
    weights = {page: facts["weight"] for page, facts in cache.items()}
    (ARTEFACTS / "page-weights.json").write_text(json.dumps(weights, indent=2) + "\n")


def _weight(requests, site):
    """Bytes a first visit downloads: in all as sent (gzipped text) and uncompressed; the page's
    HTML (with its widgets' frames) and images uncompressed; the shared _static files as sent."""
    weight = {"transferred": 0, "uncompressed": 0, "html": 0, "images": 0, "theme_and_vendor": 0}
    for request in requests:
        url_path = unquote(urlsplit(request.url).path)
        path = site / url_path.lstrip("/")
        size = (path / "index.html" if path.is_dir() else path).stat().st_size
        sent = request.sizes()["responseBodySize"]
        weight["transferred"] += sent
        weight["uncompressed"] += size
        if url_path.startswith("/_static/"):  # shared by every page: theme, MathJax, widgets
            weight["theme_and_vendor"] += sent
        if request.resource_type == "image":
            weight["images"] += size
        elif request.resource_type == "document":
            weight["html"] += size
    return weight


def test_every_page_of_the_site_is_checked(fast_site):
    built = {p.relative_to(fast_site).as_posix() for p in fast_site.rglob("*.html")}
    built -= {p for p in built if p.startswith(("_static/", "_sources/", "_images/"))}
    assert built == {f"{page}.html" for page in PAGES} | {"index.html"}


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_without_errors_or_failed_requests(visits, page):
    facts = visits(page)
    assert not facts["errors"], "\n".join(facts["errors"])
    assert not facts["failed"], "\n".join(facts["failed"])


@pytest.mark.parametrize("page", PAGES)
def test_no_request_leaves_the_machine(visits, page):
    assert visits(page)["external"] == []


@pytest.mark.parametrize("page", PAGES)
def test_images_load_and_authored_images_have_alt_text(visits, page):
    images = visits(page)["images"]
    assert [image["src"] for image in images if not image["loaded"]] == []
    authored = [image for image in images if image["authored"]]
    no_alt = [
        image["src"]
        for image in authored
        if not (image["alt"] or "").strip() or image["alt"] == image["src"]  # Sphinx's default
    ]
    assert no_alt == [], "figures without alt text: set metadata mystnb.image.alt"


@pytest.mark.parametrize("page", PAGES)
def test_maths_is_typeset(visits, page):
    facts = visits(page)
    assert facts["typeset"] == facts["maths"], "some maths was left for MathJax but not typeset"
    assert facts["raw_maths"] == [], "maths delimiters left in the text"
    if page in CHAPTERS:
        assert facts["maths"] > 0, "a chapter states its ideas in maths too"


@pytest.mark.parametrize("page", PAGES)
def test_saved_widgets_render(visits, page):
    facts = visits(page)
    assert facts["widgets_drawn"] == facts["widget_views"]
    assert facts["widget_errors"] == 0


@pytest.mark.parametrize("page", CHAPTERS)
def test_page_weight(visits, page):
    weight = visits(page)["weight"]
    print(page, weight)
    assert weight["transferred"] <= PAGE_WEIGHT_LIMIT, weight


# A `course_utils.widgets.browser`: a VBox of a selection slider above a Stack of frames.
BROWSERS = """() => [...document.querySelectorAll('.widget-vbox')].filter(box =>
  box.children.length === 2 && box.children[0].matches('.widget-hslider')
  && box.children[1].matches('.widget-box:not(.widget-hbox):not(.widget-vbox)'))"""

SHOWN = """box => {
  const img = box.children[1].querySelector('img');
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  canvas.getContext('2d').drawImage(img, 0, 0);
  return [box.querySelector('.widget-readout').textContent, canvas.toDataURL()];
}"""


def test_browser_sliders_change_the_picture_without_a_kernel(reader):
    """Every top-level `browser` widget in the book shows another frame when its slider moves."""
    tested = []
    for page in BOOK:
        reader.open(f"{page}.html")
        loaded = len(reader.errors)  # errors on load are test_page_loads_...'s to report
        browsers = reader.page.evaluate_handle(BROWSERS)
        for index in range(reader.page.evaluate("browsers => browsers.length", browsers)):
            box = browsers.evaluate_handle("(browsers, i) => browsers[i]", index).as_element()
            if not box.is_visible():  # a browser inside a frame that is not shown
                continue
            box.scroll_into_view_if_needed()
            before = box.evaluate(SHOWN)
            box.query_selector(".noUi-handle").press("ArrowRight")
            reader.page.wait_for_function(
                "([box, label]) => box.querySelector('.widget-readout').textContent !== label",
                arg=[box, before[0]],
            )
            after = box.evaluate(SHOWN)
            assert after[0] != before[0], f"{page}: the slider did not move"
            assert after[1] != before[1], f"{page}: the slider moved but the picture stayed"
            tested.append(page)
            assert reader.errors[loaded:] == [], f"{page}: moving the slider raised errors"
    print("browser widgets moved on", tested)
    assert tested, (
        "no `course_utils.widgets.browser` widget in the book (chapters 2, 5, 6 have one)"
    )


@pytest.mark.parametrize("page", CHAPTERS)
def test_solution_toggles_open_and_close(reader, page):
    reader.open(f"{page}.html")
    loaded = len(reader.errors)  # errors on load are test_page_loads_...'s to report
    toggles = reader.page.locator("details.hide.above-input", has_text="Show solution")
    assert toggles.count() > 0, "the exercise's solution is folded behind a 'Show solution' toggle"
    for toggle in toggles.all():
        code = toggle.locator(".cell_input")
        assert not toggle.evaluate("d => d.open") and not code.is_visible()
        toggle.locator("summary").click()
        assert toggle.evaluate("d => d.open") and code.is_visible()
        assert toggle.locator("summary").inner_text().strip() == "Hide solution"
        toggle.locator("summary").click()
        assert not toggle.evaluate("d => d.open") and not code.is_visible()
    for answer in reader.page.locator(".admonition.dropdown").all():  # folded model answers
        body = answer.locator(":scope > :not(.admonition-title)").first
        assert not body.is_visible()
        answer.locator(".admonition-title").click()
        body.wait_for(state="visible")
        answer.locator(".admonition-title").click()
        body.wait_for(state="hidden")
    assert reader.errors[loaded:] == []


def expected_launch_urls(page):
    """Binder and Colab addresses for a page, from `_config.yml` (the theme's own rules)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    theme = (config.get("sphinx") or {}).get("config", {}).get("html_theme_options", {})
    repository = config.get("repository", {})
    launch = {**config.get("launch_buttons", {}), **theme.get("launch_buttons", {})}
    url = theme.get("repository_url", repository["url"]).rstrip("/")
    branch = theme.get("repository_branch", repository.get("branch", "master"))
    folder = theme.get("path_to_docs", repository.get("path_to_book", "")).strip("/")
    org, repo = url.split("/")[-2:]
    path = f"{folder}/{page}.ipynb" if folder else f"{page}.ipynb"
    ui = {"classic": "tree", "jupyterlab": "lab/tree"}[launch.get("notebook_interface", "classic")]
    binder = launch["binderhub_url"].rstrip("/")
    colab = launch["colab_url"].rstrip("/")
    return {
        "Binder": f"{binder}/v2/gh/{org}/{repo}/{branch}?urlpath={ui}/{path}",
        "Colab": f"{colab}/github/{org}/{repo}/blob/{branch}/{path}",
    }


@pytest.mark.parametrize("page", CHAPTERS)
def test_launch_buttons_carry_the_expected_urls(reader, page):
    reader.open(f"{page}.html")
    menu = reader.page.locator(".dropdown-launch-buttons")
    menu.locator("button.dropdown-toggle").click()
    found = {}
    for link in menu.locator("a.dropdown-item").all():
        assert link.is_visible()
        found[link.inner_text().strip()] = link.get_attribute("href")
    assert found == expected_launch_urls(page)


@pytest.mark.parametrize("page", CHAPTERS)
def test_search_finds_a_word_from_the_chapter(reader, fast_site, page):
    html = (fast_site / f"{page}.html").read_text()
    title = html_module.unescape(re.search(r"<title>(.*?)</title>", html, re.S).group(1))
    title = title.split(" \u2014 ")[0]  # "1. Transposed convolutions — Reversing ..."
    word = max(title.replace("-", " ").split(), key=len).strip(".,:;()").lower()
    reader.page.goto(f"{reader.site_url}search.html?q={word}")
    summary = reader.page.locator("#search-results p.search-summary")
    reader.page.wait_for_function(
        "s => /finished|did not match/.test(s.textContent)", arg=summary.element_handle()
    )
    results = reader.page.locator("#search-results ul.search li a")
    hrefs = [urlsplit(href).path for href in results.evaluate_all("as => as.map(a => a.href)")]
    assert f"/{page}.html" in hrefs, f"searching {word!r} found {hrefs}"


def test_navigation_reaches_every_page_in_reading_order(reader):
    reader.page.goto(reader.site_url)
    reader.page.wait_for_url("**/intro.html")
    reader.settle()
    sidebar = reader.page.locator("nav.bd-docs-nav a.reference.internal")
    listed = [urlsplit(a).path for a in sidebar.evaluate_all("as => as.map(a => a.href)")]
    assert listed == [f"/{page}.html" for page in BOOK]
    visited = [urlsplit(reader.page.url).path]
    while (next_link := reader.page.locator("a.right-next")).count():
        next_link.click()
        reader.settle()
        visited.append(urlsplit(reader.page.url).path)
    assert visited == [f"/{page}.html" for page in BOOK]
