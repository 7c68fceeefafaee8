"""The site's own assets (site/), its glossary, and the links from the chapters to the glossary.

The pages themselves, in a browser, are checked by ``test_browser.py``.
"""

import importlib.util
import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import yaml
from conftest import ROOT, toc_files

SITE = ROOT / "site"
spec = importlib.util.spec_from_file_location("site_assets", SITE / "site_assets.py")
site_assets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(site_assets)

CHAPTERS = [page for page in toc_files() if page.startswith("chapters/")]
COURSE_TERMS = [
    "transposed convolution",
    "switches",
    "unpooling",
    "deconvnet",
    "guided backpropagation",
    "feature map",
    "stride",
    "auto-encoder",
    "encoder",
    "decoder",
    "bottleneck",
    "code",
    "latent space",
    "logits",
    "binary cross-entropy",
    "reconstruction loss",
    "variational auto-encoder",
    "prior",
    "ELBO",
    "KL divergence",
    "reparameterisation",
    "posterior collapse",
    "rate–distortion",
    "β-VAE",
]


def glossary_terms():
    text = (ROOT / "glossary.md").read_text()
    body = re.search(r"```\{glossary\}\n(.*?)\n```", text, re.S).group(1)
    return [line for line in body.splitlines() if line and not line.startswith((" ", ":"))]


def test_glossary_defines_the_course_terms_once():
    terms = glossary_terms()
    assert sorted(set(terms)) == sorted(terms), "a term is defined twice"
    assert [term for term in COURSE_TERMS if term not in terms] == []


def test_glossary_comes_after_the_chapters():
    assert toc_files()[-1] == "glossary"


@pytest.mark.slow
@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_links_to_the_glossary(fast_site, page):
    html = (fast_site / f"{page}.html").read_text()
    assert re.search(r'href="\.\./glossary\.html#term-', html), (
        f"{page} should link its key terms to the glossary with {{term}}`...`"
    )


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_opens_with_objectives_and_closes_with_a_summary(page):
    cells = nbformat.read(ROOT / f"{page}.ipynb", as_version=4).cells
    code = [i for i, cell in enumerate(cells) if cell.cell_type == "code"]
    first, last = code[0] if code else len(cells), code[-1] if code else -1
    opening = " ".join(cell.source for cell in cells[:first] if cell.cell_type == "markdown")
    assert re.search(r"learning objectives", opening, re.I), "objectives before the first code"
    closing = [cell.source for cell in cells[last + 1 :] if cell.cell_type == "markdown"]
    assert re.search(r"^#+ Summary", "\n".join(closing), re.M), "a Summary after the last code"
    assert closing and closing[-1].rstrip().endswith(
        "```{bibliography}\n:filter: docname in docnames\n```"
    ), "the page ends with its bibliography"


def test_lock_file_pins_the_versions_in_package_json():
    package = json.loads((SITE / "package.json").read_text())
    # served by the site; axe-core only audits it in the browser test
    wanted = {**package["dependencies"], **package["devDependencies"]}
    lock = json.loads((SITE / "package-lock.json").read_text())["packages"]
    assert {name: lock[f"node_modules/{name}"]["version"] for name in wanted} == wanted
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in wanted.values())
    assert wanted["mathjax"].startswith("3.")
    assert "axe-core" in package["devDependencies"]


def test_favicon_is_configured_and_served_at_the_root():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert (ROOT / config["html"]["favicon"]).is_file()
    assert (SITE / "root" / "favicon.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"  # an ICO


def test_bibliography_loses_its_invalid_aria_roles():
    body = (
        '<div role="list" class="citation-list">\n'
        '<div class="citation" id="id3" role="doc-biblioentry">\n'
        '<span class="label"><a role="doc-backlink" href="#id1">KW14</a></span>\n'
        "<p>Kingma and Welling.</p>\n</div>\n</div>"
    )
    assert site_assets.plain_bibliography(body) == (
        '<div class="citation-list">\n'
        '<div class="citation" id="id3">\n'
        '<span class="label"><a role="doc-backlink" href="#id1">KW14</a></span>\n'
        "<p>Kingma and Welling.</p>\n</div>\n</div>"
    )


def test_site_files_are_served_and_templates_override_the_theme():
    import pydata_sphinx_theme

    config = SimpleNamespace(html_static_path=["_static"], html_extra_path=[], templates_path=["a"])
    site_assets.serve_static(None, config)
    assert config.html_static_path == ["_static", str(SITE / "static")]
    assert config.html_extra_path == [str(SITE / "root")]
    assert config.templates_path[0] == str(SITE / "templates")
    theme = Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme"
    for template in (SITE / "templates").glob("*.html"):  # each replaces a theme component
        assert (theme / "components" / template.name).is_file(), template.name


def test_config_points_at_files_the_extension_serves():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]
    assert config["local_extensions"]["site_assets"] == "site/"
    paths = [config["config"]["mathjax_path"], *config["config"]["nb_ipywidgets_js"]]
    for path in paths:
        assert path.startswith(site_assets.PREFIX), path
        name, _, file = path[len(site_assets.PREFIX) :].partition("/")
        assert file in site_assets.PACKAGES[name]["copy"], path


@pytest.mark.skipif(
    not site_assets.installed(), reason="npm packages not installed (make site-assets)"
)
def test_served_files_exist_in_the_installed_packages():
    for name, package in site_assets.PACKAGES.items():
        source = site_assets._source(name)
        for pattern in package["copy"]:
            assert list(source.glob(pattern)), f"{name}: nothing matches {pattern} in {source}"


def test_cdn_fallback_uses_the_pinned_versions(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(site_assets, "NODE_MODULES", tmp_path / "node_modules")
    config = SimpleNamespace(
        mathjax_path="vendor/mathjax/tex-mml-chtml.js",
        nb_ipywidgets_js={
            "vendor/html-manager/embed.js": {"crossorigin": "anonymous"},
            "https://example.org/other.js": {},
        },
    )
    with caplog.at_level(logging.INFO):
        site_assets.use_cdn_when_missing(None, config)
    versions = json.loads((SITE / "package.json").read_text())["dependencies"]
    cdn = "https://cdn.jsdelivr.net/npm"
    assert config.mathjax_path == f"{cdn}/mathjax@{versions['mathjax']}/es5/tex-mml-chtml.js"
    html_manager = versions["@jupyter-widgets/html-manager"]
    assert config.nb_ipywidgets_js == {
        f"{cdn}/@jupyter-widgets/html-manager@{html_manager}/dist/embed.js": {
            "crossorigin": "anonymous"
        },
        "https://example.org/other.js": {},
    }
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and "CDN" in said[0].upper(), said


def test_installed_packages_keep_local_paths(monkeypatch, tmp_path, caplog):
    for package in site_assets.PACKAGES.values():
        first = tmp_path / package["package"] / package["folder"] / package["copy"][0]
        first.parent.mkdir(parents=True, exist_ok=True)
        first.write_text("")
    monkeypatch.setattr(site_assets, "NODE_MODULES", tmp_path)
    config = SimpleNamespace(
        mathjax_path="vendor/mathjax/tex-mml-chtml.js",
        nb_ipywidgets_js={"vendor/html-manager/embed.js": {}},
    )
    with caplog.at_level(logging.INFO):
        site_assets.use_cdn_when_missing(None, config)
    assert config.mathjax_path == "vendor/mathjax/tex-mml-chtml.js"
    assert list(config.nb_ipywidgets_js) == ["vendor/html-manager/embed.js"]
    assert caplog.records == []
