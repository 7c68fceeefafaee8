"""Sphinx extension: the site serves MathJax and the ipywidgets HTML manager itself.

``make site-assets`` installs the npm packages pinned in ``site/package-lock.json`` into
``site/node_modules``. ``_config.yml`` points ``mathjax_path`` and ``nb_ipywidgets_js`` at
``vendor/<package>/<file>`` (paths relative to the site's ``_static`` folder), and this extension
copies the files those pages need from ``site/node_modules`` into ``_static/vendor/`` at the end
of an HTML build. Where the packages are not installed (no npm), it swaps those paths for the same
files, at the same pinned versions, on cdn.jsdelivr.net and says so in one line.

The widget manager is ``embed.js``, the bundle of the built-in widgets, not myst-nb's default
RequireJS + ``embed-amd.js``: the AMD loader exists to fetch third-party widget code from a CDN at
run time, which a self-contained site cannot do, and the bundle is half the size (0.46 MB gzipped,
against 0.94 MB with RequireJS) and finds its fonts next to itself.

It also tidies what every page loads, so that a reader's console stays free of errors: pages with
saved widgets get a short set-up script (see ``WIDGETS_SETUP``), and a script tag that appears twice
on a page (sphinx-thebe's inline configuration, with Sphinx 7) appears once.

And it serves the course's own files:

- ``site/root/favicon.ico`` (``favicon.svg`` redrawn with Pillow at 16, 32 and 48 pixels) at the
  top of the site, for pages that name no icon (``index.html``, a redirect), which browsers ask
  for ``/favicon.ico``;
- ``site/static/``: ``favicon.svg`` (``html.favicon``), ``course.css`` (code that wraps, figures on
  white in dark mode, print styles) and ``course.js`` (accessible names for the solution toggles
  and the widgets' sliders);
- ``site/templates/``: the theme's colour-mode and search buttons, named by the text they show.

Each page's bibliography loses the ARIA roles docutils gives it (a "list" whose items are not list
items), which screen readers and axe reject.
"""

import json
import os
import re
import shutil
from pathlib import Path

from sphinx.util import logging

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
NODE_MODULES = HERE / "node_modules"
CDN = "https://cdn.jsdelivr.net/npm"
PREFIX = "vendor/"

# vendor/<name>/... is <package>/<folder>/... in node_modules and on the CDN; only `copy` is served.
PACKAGES = {
    "mathjax": {
        "package": "mathjax",
        "folder": "es5",
        # the combined component, the TeX extensions it autoloads (e.g. \boldsymbol), its fonts,
        # and what its context menu loads on demand (accessibility, speech)
        "copy": [
            "tex-mml-chtml.js",
            "input/tex/extensions",
            "output/chtml/fonts/woff-v2",
            "ui",
            "a11y",
            "sre",
        ],
    },
    "html-manager": {
        "package": "@jupyter-widgets/html-manager",
        "folder": "dist",
        # the bundle of the built-in widgets, and the icon fonts it loads from next to itself
        "copy": ["embed.js", "*.woff2", "*.woff", "*.ttf", "*.eot", "*.svg"],
    },
}

# Runs before the widget manager on pages with saved widgets. ipywidgets typesets its labels with
# MathJax 2's `Hub.Queue`, which MathJax 3 lacks (an uncaught TypeError): give MathJax 3 (loaded with
# `defer`, so there at DOMContentLoaded, before the widgets are drawn) that one method.
WIDGETS_SETUP = """window.addEventListener("DOMContentLoaded", function () {
  var mathjax = window.MathJax;
  if (!mathjax || mathjax.Hub) return;
  mathjax.Hub = {Queue: function (command) {
    var ready = (mathjax.startup && mathjax.startup.promise) || Promise.resolve();
    ready.then(function () { if (mathjax.typesetPromise) return mathjax.typesetPromise([command[2]]); });
  }};
});"""

logger = logging.getLogger(__name__)


def _pinned_versions():
    return json.loads((HERE / "package.json").read_text())["dependencies"]


def _source(name):
    spec = PACKAGES[name]
    return NODE_MODULES / spec["package"] / spec["folder"]


def installed():
    """Whether every package's files are in ``site/node_modules``."""
    return all((_source(name) / spec["copy"][0]).is_file() for name, spec in PACKAGES.items())


def cdn_url(path):
    """The CDN address of ``vendor/<name>/<file>`` at the version pinned in package.json."""
    name, _, rest = path[len(PREFIX) :].partition("/")
    spec = PACKAGES[name]
    version = _pinned_versions()[spec["package"]]
    folder = f"{spec['folder']}/" if spec["folder"] else ""
    return f"{CDN}/{spec['package']}@{version}/{folder}{rest}"


def _local_paths(config):
    paths = [config.mathjax_path] + list(config.nb_ipywidgets_js)
    return [path for path in paths if path.startswith(PREFIX)]


def use_cdn_when_missing(app, config):
    """Swap ``vendor/`` paths for CDN addresses when the npm packages are not installed."""
    if not _local_paths(config) or installed():
        return
    if config.mathjax_path.startswith(PREFIX):
        config.mathjax_path = cdn_url(config.mathjax_path)
    config.nb_ipywidgets_js = {
        cdn_url(path) if path.startswith(PREFIX) else path: attributes
        for path, attributes in config.nb_ipywidgets_js.items()
    }
    logger.info(
        "site assets: site/node_modules is missing (no npm? run `make site-assets`), "
        "so pages load MathJax and the widget manager from cdn.jsdelivr.net"
    )


def copy_assets(app, exception):
    """Copy the served files of each package into ``_static/vendor/`` of an HTML build."""
    if exception or app.builder.format != "html" or not installed():
        return
    for name, spec in PACKAGES.items():
        source, target = _source(name), Path(app.outdir) / "_static" / "vendor" / name
        for pattern in spec["copy"]:
            for path in sorted(source.glob(pattern)):
                destination = target / path.relative_to(source)
                if path.is_dir():
                    shutil.copytree(path, destination, dirs_exist_ok=True)
                else:
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, destination)


def serve_static(app, config):
    """Serve ``site/static/`` in ``_static/`` and ``site/root/`` at the top of the site;
    ``site/templates/`` overrides theme components."""
    config.html_static_path.append(str(STATIC))
    config.html_extra_path.append(str(HERE / "root"))
    config.templates_path.insert(0, str(TEMPLATES))  # before the themes' own components


def plain_bibliography(body):
    """A page body with the ARIA roles of its bibliography (citation list and entries) removed."""
    # docutils makes a bibliography a "list" of "doc-biblioentry" items (a role ARIA 1.2 deprecates)
    # that start with a back-link: not a valid list. Plain blocks read the same, without the error.
    body = body.replace('<div role="list" class="citation-list">', '<div class="citation-list">')
    return re.sub(r'(<div class="citation" id="[^"]*") role="doc-biblioentry"', r"\1", body)


def _page_has_widgets(app, pagename):
    from myst_nb.sphinx_ext import NbMetadataCollector

    return "ipywidgets_state" in NbMetadataCollector.get_js_files(app.env, pagename)


def tidy_page_scripts(app, pagename, templatename, context, doctree):
    """Add the widget set-up script where widgets are, drop repeated script tags, and plain
    bibliographies."""
    if app.builder.format != "html":
        return
    if _page_has_widgets(app, pagename):
        app.add_js_file(None, body=WIDGETS_SETUP, priority=499)
    if "body" in context:
        context["body"] = plain_bibliography(context["body"])
    seen, unique = set(), []
    for script in context["script_files"]:
        attributes = getattr(script, "attributes", {})
        key = (getattr(script, "filename", script) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique


def setup(app):
    # Chapters executed for the site print one line per epoch instead of saving a progress-bar
    # widget on every page (course_utils.training reads this; the kernels inherit it).
    os.environ.setdefault("COURSE_PLAIN_PROGRESS", "1")
    app.connect("config-inited", use_cdn_when_missing)
    app.connect("config-inited", serve_static)
    app.add_css_file("course.css")
    app.add_js_file("course.js", defer="defer")
    app.connect("build-finished", copy_assets)
    # after myst-nb and the themes have added their scripts to the page
    app.connect("html-page-context", tidy_page_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
