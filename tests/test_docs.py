"""The course site: its sources link theory and tutorials both ways, and the built site is offline.

Nothing here builds the site (``make docs`` does, and runs this file after building). The checks of the
built pages run when ``docs/_build/html`` exists and are skipped otherwise.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
SITE = DOCS / "_build" / "html"
THEORY = sorted((DOCS / "theory").glob("*.md"))
TUTORIALS = sorted((DOCS / "tutorials").glob("[0-9][0-9]_*.py"))

# Attributes through which a page makes the browser fetch something (links to other pages do not count).
FETCHING = {"script": ("src",), "img": ("src", "srcset"), "iframe": ("src",), "source": ("src", "srcset"),
            "video": ("src", "poster"), "audio": ("src",), "embed": ("src",), "object": ("data",),
            "input": ("src",)}
FETCHING_LINK_RELS = {"stylesheet", "icon", "preload", "prefetch", "modulepreload", "manifest", "apple-touch-icon",
                      "shortcut", "preconnect", "dns-prefetch", "import"}
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
CSS_EXTERNAL = re.compile(r"(?:url\(\s*['\"]?|@import\s+['\"])\s*((?:https?:)?//[^'\")\s]+)", re.IGNORECASE)


class ResourceParser(HTMLParser):
    """Collects every URL a page would fetch, and its inline styles."""

    def __init__(self):
        super().__init__()
        self.fetched: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in FETCHING.get(tag, ()):
            if attrs.get(name):
                self.fetched += [part.strip().split(" ")[0] for part in attrs[name].split(",")]
        if tag == "link" and attrs.get("href"):
            rels = set((attrs.get("rel") or "").lower().split())
            if rels & FETCHING_LINK_RELS:
                self.fetched.append(attrs["href"])
        if attrs.get("style"):
            self.styles.append(attrs["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def external_resources(html: str) -> list[str]:
    parser = ResourceParser()
    parser.feed(html)
    found = [url for url in parser.fetched if EXTERNAL.match(url)]
    for style in parser.styles:
        found += CSS_EXTERNAL.findall(style)
    return found


def test_the_scanner_finds_external_resources():
    page = ("<html><head><script src='https://cdn.example.org/x.js'></script>"
            "<link rel='stylesheet' href='//fonts.example.org/f.css'><link rel='next' href='https://example.org'>"
            "<style>body{background:url(https://example.org/b.png)}</style></head>"
            "<body><img src='_images/a.png'><a href='https://example.org'>a link is not a resource</a></body></html>")
    assert external_resources(page) == ["https://cdn.example.org/x.js", "//fonts.example.org/f.css",
                                        "https://example.org/b.png"]


def test_every_theory_page_links_a_tutorial_and_every_tutorial_a_theory_page():
    assert len(THEORY) == 8 and len(TUTORIALS) == 12
    tutorial_names = {p.stem for p in TUTORIALS}
    for page in THEORY:
        linked = set(re.findall(r"auto_tutorials/(\d\d_[a-z_]+)", page.read_text()))
        assert linked & tutorial_names, f"{page.name} links no tutorial"
        assert linked <= tutorial_names, f"{page.name} links missing tutorials: {linked - tutorial_names}"
    theory_names = {p.stem for p in THEORY}
    for script in TUTORIALS:
        linked = set(re.findall(r":doc:`/theory/([a-z_]+)`", script.read_text()))
        assert linked & theory_names, f"{script.name} links no theory page"
        assert linked <= theory_names, f"{script.name} links missing theory pages: {linked - theory_names}"


def test_every_tutorial_checks_its_headline_and_ends_with_exercises():
    for script in TUTORIALS:
        text = script.read_text()
        assert re.search(r'print\(f?"headline: ', text), f"{script.name} prints no headline"
        assert re.search(r"^assert ", text, re.MULTILINE), f"{script.name} checks nothing"
        assert "# Exercises\n# ---------\n# 1. " in text, f"{script.name} has no exercises"
        assert "SYNBIOLAB_TUTORIAL_FAST" in text, f"{script.name} has no fast mode"


def test_every_theory_figure_is_made_by_code():
    figures = set()
    for page in THEORY:
        figures |= set(re.findall(r"_figures/([a-z0-9_]+\.png)", page.read_text()))
    assert figures, "the theory pages show no generated figure"
    made_by = "".join(p.read_text() for p in (DOCS / "theory" / "figures").glob("*.py"))
    for name in figures:
        assert f'"{name}"' in made_by, f"{name} is shown on a theory page but no figure script writes it"
    assert not list((DOCS / "theory").glob("*.png")), "committed images beside the theory pages"


built = pytest.mark.skipif(not (SITE / "index.html").is_file(), reason="site not built (make docs)")


@built
def test_built_pages_fetch_nothing_from_another_host():
    pages = sorted(SITE.rglob("*.html"))
    assert len(pages) >= 1 + len(THEORY) + len(TUTORIALS)
    offenders = {}
    for page in pages:
        found = external_resources(page.read_text(errors="replace"))
        if found:
            offenders[str(page.relative_to(SITE))] = found
    for css in SITE.rglob("*.css"):
        found = CSS_EXTERNAL.findall(css.read_text(errors="replace"))
        if found:
            offenders[str(css.relative_to(SITE))] = found
    assert not offenders, f"resources from other hosts: {offenders}"


@built
def test_built_tutorials_show_their_headline_and_offer_downloads():
    for script in TUTORIALS:
        page = SITE / "auto_tutorials" / f"{script.stem}.html"
        assert page.is_file(), f"{page} missing"
        html = page.read_text()
        assert "headline: " in html, f"{page.name} shows no executed headline"
        assert f"{script.stem}.py" in html and f"{script.stem}.ipynb" in html, f"{page.name} offers no downloads"
        assert "sphx-glr-single-img" in html or "sphx-glr-multi-img" in html, f"{page.name} shows no figure"
    mathjax = SITE / "_static" / "mathjax" / "tex-chtml.js"
    assert mathjax.is_file(), "MathJax is not served from the site"
    for page in THEORY:
        html = (SITE / "theory" / f"{page.stem}.html").read_text()
        assert "_static/mathjax/tex-chtml.js" in html and "<img" in html, f"{page.stem}: no local MathJax or figure"


def test_the_rules_on_the_generalisation_page_are_those_of_diagnose():
    from synbiolab.diagnose import thresholds

    text = (DOCS / "theory" / "generalisation.md").read_text()
    named = set(re.findall(r"`([A-Z][A-Z_]+[A-Z])`", text))
    known = {name.split("[")[0] for name in thresholds()}
    assert named and named <= known, f"names on the page that diagnose does not have: {named - known}"
    values = thresholds()
    assert f"$\\ge {values['UNDERFIT_TRAIN_FRACTION']:g}\\, e_0$" in text
    assert f"gap $\\ge {values['OVERFIT_GAP_FRACTION']:g}\\, e_0$" in text
    assert f"`UNSTABLE_DIVERGE_FACTOR` = {values['UNSTABLE_DIVERGE_FACTOR']:g}" in text
