"""The built site as a reader sees it, in headless Chromium, with nothing fetched from outside.

The fast-mode build (``fast_site``; set ``COURSE_SITE`` to test an existing ``_build/html``) is
served on a loopback port, gzipped as a static host serves it, and every page is opened in Debian's
Chromium driven by Playwright, each in a fresh profile (a new browser context: no cache, no cookies,
no stored colour mode). Any request for a non-local address is aborted and fails the test. Chromium
asks for a site's icon once per browser, and not at all while Playwright intercepts requests, so one
test starts a new browser without interception and checks what the host answered (a missing
favicon is a 404 on ``/favicon.ico`` and a console error). Every page is audited with axe-core
(``site/node_modules``, pinned in ``site/package-lock.json``), in light and dark mode.
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
AXE = ROOT / "site" / "node_modules" / "axe-core" / "axe.min.js"
AXE_BLOCKING = {"serious", "critical"}  # impacts that fail the test; minor and moderate are printed


class StaticHost(SimpleHTTPRequestHandler):
    """Serves a folder as a static host does: text gzipped for browsers that accept it."""

    def log_message(self, *args):
        pass

    def log_request(self, code="-", size="-"):
        self.server.answered.append((self.path, int(code)))

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
def host(fast_site):
    """The static host; ``host.answered`` lists ``(path, status)`` of every request it answered."""
    handler = functools.partial(StaticHost, directory=str(fast_site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.answered = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def site_url(host):
    return f"http://127.0.0.1:{host.server_port}/"


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

    def __init__(self, chromium, site_url, color_scheme="light"):
        self.site_url = site_url
        self.errors, self.failed, self.external, self.finished = [], [], [], []
        self.context = chromium.new_context(
            viewport={"width": 1280, "height": 900}, color_scheme=color_scheme
        )
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

    def audit(self):
        """axe-core's violations on the page as it is now: ``[{id, impact, help, nodes}]``."""
        if not AXE.is_file():
            pytest.fail(f"no {AXE.relative_to(ROOT)}: run `make site-assets` (npm ci in site/)")
        if not self.page.evaluate("() => !!window.axe"):
            self.page.add_script_tag(path=str(AXE))  # inline: no request leaves the page
        return self.page.evaluate(AXE_RUN)

    def close(self):
        self.context.close()


#: Open every fold, then wait for their fade-in (sphinx-design animates it) to end: audited midway,
#: the half-transparent text fails axe's contrast rule on a loaded machine.
UNFOLD = """async () => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  await new Promise(requestAnimationFrame);
  const finite = document.getAnimations()
    .filter(a => a.effect && a.effect.getComputedTiming().endTime !== Infinity);
  await Promise.all(finite.map(a => a.finished));
}"""

AXE_RUN = """async () => {
  const results = await axe.run(document, {resultTypes: ['violations']});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(' ')),
  }));
}"""


def _blocking(violations):
    """The serious and critical violations, one line each: rule, impact, where."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']}: {', '.join(v['nodes'][:5])}"
        for v in violations
        if v["impact"] in AXE_BLOCKING
    ]


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
  const icon = document.querySelector('link[rel~="icon"]');
  return {
    images,
    favicon: icon && icon.getAttribute('href'),
    maths: maths.length,
    typeset: maths.filter(m => m.querySelector('mjx-container')).length,
    raw_maths: ['$$', '\\\\[', '\\\\('].filter(d => prose.textContent.includes(d)),
    widget_views: views.length,
    widgets_drawn: document.querySelectorAll('.widget-subarea > .jupyter-widgets').length,
    widget_errors: [...document.querySelectorAll('.widget-subarea')]
      .filter(a => /Error displaying widget|Loading widget/.test(a.textContent)).length,
  };
}"""


# Visible code blocks wider than their box, or reaching past the article: the longest line of
# each, cut to 60 characters.
CLIPPED_CODE = """() => {
  const article = document.querySelector('article') || document.body;
  const right = article.getBoundingClientRect().right;
  return [...article.querySelectorAll('pre')]
    .filter(pre => pre.offsetParent !== null)
    .filter(pre => pre.scrollWidth > pre.clientWidth + 1
                   || pre.getBoundingClientRect().right > right + 1)
    .map(pre => pre.textContent.split('\\n')
                   .reduce((a, b) => (b.length > a.length ? b : a)).slice(0, 60));
}"""

# Every visible picture in the article (figures and widget frames): its backdrop and filter.
PICTURES = """() => [...document.querySelectorAll('.bd-content img')]
  .filter(img => img.offsetParent !== null)
  .map(img => { const style = getComputedStyle(img);
    return {src: img.getAttribute('src').slice(0, 60), background: style.backgroundColor,
            filter: style.filter}; })"""


def _visit(chromium, site_url, host, page, color_scheme, screenshot=None, site=None):
    """Open a page in a fresh profile: what went wrong, its facts, its weight (with ``site``), then
    its axe audit with every solution unfolded."""
    reader = Reader(chromium, site_url, color_scheme)
    answered = len(host.answered)
    try:
        reader.open(f"{page}.html")
        facts = reader.page.evaluate(PAGE_FACTS)
        if screenshot:
            reader.page.screenshot(path=screenshot, full_page=True)
        facts.update(
            theme=reader.page.evaluate("document.documentElement.dataset.theme"),
            pictures=reader.page.evaluate(PICTURES),
            weight=_weight(reader.finished, site) if site else None,
        )
        reader.page.evaluate(UNFOLD)
        facts.update(
            clipped_code=reader.page.evaluate(CLIPPED_CODE),
            axe=reader.audit(),
            errors=reader.errors,
            failed=reader.failed,
            external=reader.external,
        )
    finally:
        reader.close()
    facts["http_errors"] = [
        f"{path}: HTTP {code}" for path, code in host.answered[answered:] if code >= 400
    ]
    return facts


@pytest.fixture(scope="module")
def visits(chromium, site_url, host, fast_site):
    """Open each page once in a fresh profile: what went wrong, what it weighs, a screenshot."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    cache = {}

    def visit(page):
        if page not in cache:
            screenshot = ARTEFACTS / f"{page.replace('/', '--')}.png"
            cache[page] = _visit(chromium, site_url, host, page, "light", screenshot, fast_site)
        return cache[page]

    yield visit
    weights = {page: facts["weight"] for page, facts in cache.items()}
    (ARTEFACTS / "page-weights.json").write_text(json.dumps(weights, indent=2) + "\n")


@pytest.fixture(scope="module")
def dark_visits(chromium, site_url, host):
    """Open each page once in a fresh profile whose system asks for dark mode."""
    cache = {}

    def visit(page):
        if page not in cache:
            cache[page] = _visit(chromium, site_url, host, page, "dark")
        return cache[page]

    return visit


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
    assert not facts["http_errors"], "\n".join(facts["http_errors"])  # as the host answered


def test_first_visit_in_a_new_browser_has_no_errors(chromium, host, site_url):
    """A new browser (a fresh profile, no request interception) opens the site: it asks for the
    site's icon and gets it; no console errors, no failed or outside requests."""
    browser = chromium.browser_type.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    answered = len(host.answered)
    errors, outside = [], []
    try:
        page = browser.new_context().new_page()
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        page.on("request", lambda r: urlsplit(r.url).hostname in LOOPBACK or outside.append(r.url))
        page.goto(site_url)
        page.wait_for_url("**/intro.html")
        page.wait_for_load_state("load")
        for _ in range(100):  # the icon is fetched after the page loads
            if any("favicon" in path for path, _ in host.answered[answered:]):
                break
            page.wait_for_timeout(100)
        page.wait_for_timeout(500)
    finally:
        browser.close()
    served = host.answered[answered:]
    assert [path for path, _ in served if "favicon" in path], "the browser asked for no icon"
    assert [f"{path}: HTTP {code}" for path, code in served if code >= 400] == []
    assert errors == [] and outside == []


@pytest.mark.parametrize("page", PAGES)
def test_page_has_a_favicon(visits, fast_site, page):
    icon = visits(page)["favicon"]
    assert icon, "no <link rel='icon'>: set html.favicon in _config.yml"
    assert (fast_site / page).parent.joinpath(icon).resolve().is_file(), icon


@pytest.mark.parametrize("page", PAGES)
def test_no_serious_accessibility_violations(visits, page):
    """axe-core, solutions unfolded: no serious or critical violation (contrast, names, alt...)."""
    violations = visits(page)["axe"]
    minor = [(v["id"], v["impact"]) for v in violations if v["impact"] not in AXE_BLOCKING]
    print(page, "minor and moderate:", minor)
    assert _blocking(violations) == [], ACCESSIBILITY_HINT


ACCESSIBILITY_HINT = (
    "a figure needs metadata mystnb.image.alt in its notebook cell; a widget's slider its "
    "description; a widget's picture its tooltip; the site's own markup is fixed in site/"
)


@pytest.mark.parametrize("page", PAGES)
def test_dark_mode_is_accessible_and_keeps_figures_on_white(dark_visits, page):
    """The theme follows a dark system setting; pictures keep a white backdrop, unfiltered."""
    facts = dark_visits(page)
    assert facts["theme"] == "dark"
    assert not facts["errors"], "\n".join(facts["errors"])
    not_on_white = [
        picture
        for picture in facts["pictures"]
        if picture["background"] not in ("rgb(255, 255, 255)", "rgba(255, 255, 255, 1)")
        or picture["filter"] != "none"
    ]
    assert not_on_white == []
    assert _blocking(facts["axe"]) == [], ACCESSIBILITY_HINT


@pytest.mark.parametrize("page", BOOK)
def test_code_fits_the_page(visits, page):
    """Every code block and printed output, solutions included, wraps within the article."""
    assert visits(page)["clipped_code"] == [], (
        "these lines are cut off (see site/static/course.css)"
    )


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


@pytest.mark.parametrize("page", CHAPTERS)
def test_solution_toggles_work_from_the_keyboard(reader, page):
    """The solution toggles: in the tab order, named by their text, opened and closed by Enter."""
    reader.open(f"{page}.html")
    loaded = len(reader.errors)
    toggles = reader.page.locator("details.hide.above-input", has_text="Show solution")
    assert toggles.count() > 0
    for toggle in toggles.all():
        summary = toggle.locator("summary")
        assert summary.evaluate("s => s.tabIndex") >= 0, "not in the tab order"
        assert summary.get_attribute("aria-label") is None, "its name should be what it shows"
        summary.focus()
        assert summary.evaluate("s => s === document.activeElement")
        reader.page.keyboard.press("Enter")
        assert toggle.evaluate("d => d.open") and toggle.locator(".cell_input").is_visible()
        reader.page.keyboard.press("Enter")
        assert not toggle.evaluate("d => d.open")
    assert reader.errors[loaded:] == []


CHROME = [  # what a printed page leaves out: the site's navigation and buttons
    ".bd-header",
    ".bd-header-article",
    ".bd-sidebar-primary",
    ".bd-sidebar-secondary",
    ".prev-next-footer",
    ".bd-footer-content",
    "#pst-skip-link",
    "#print-main-content",  # the theme's printed table of contents
]


@pytest.mark.parametrize("page", CHAPTERS)
def test_printed_chapter_has_no_navigation_and_keeps_solutions_folded(reader, page):
    reader.open(f"{page}.html")
    reader.page.emulate_media(media="print")
    shown = [sel for sel in CHROME if reader.page.locator(sel).first.is_visible()]
    assert shown == [], "navigation printed: hide it in site/static/course.css (@media print)"
    titles = [h1.inner_text() for h1 in reader.page.locator("h1").all() if h1.is_visible()]
    assert len(titles) == 1, f"the title should be printed once: {titles}"
    for toggle in reader.page.locator("details.hide.above-input").all():
        assert not toggle.locator(".cell_input").is_visible(), "a solution is printed"
        assert not toggle.locator("summary").is_visible(), "a 'Show solution' button is printed"
    figures = [  # the notebook's figures; a widget shows one frame of its own
        img
        for img in reader.page.locator("article .cell_output img").all()
        if img.evaluate("img => !img.closest('.jupyter-widgets')")
    ]
    assert figures, "a chapter has figures"
    assert [img.get_attribute("src") for img in figures if not img.is_visible()] == []
    assert reader.page.evaluate(CLIPPED_CODE) == [], "code cut off in print"


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
