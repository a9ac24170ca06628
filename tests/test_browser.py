"""The built book in a real browser, offline.

Serves ``_build/html`` on 127.0.0.1, opens every page in headless Chromium with every other host
unresolvable, and fails if a request leaves loopback, a resource fails to load, MathJax reports
an error or leaves math untypeset, an image is broken, or a page throws a JavaScript error.

Every chapter page is also laid out as a reader sees it (the reading conventions of issue 17):
at 1280 px no display equation is wider than its box (not even a scrolling one), no code block
is wider than its box, every figure has a caption, there is a "Summary" section, and the page
links its executed ``.ipynb``; at 400 px (a phone) a display wider than the screen scrolls
sideways and shows a cue (a shadow) on the side where the rest of it lies.

``NTKLAB_HTML=path/to/_build/html`` checks another build (e.g. one of ``make page``).

Under CI (``CI=true``) the test must run: Chromium is installed from Debian if missing.
Elsewhere it skips (saying why) when Chromium or the built book is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.browser import LAYOUT_REPORT_JS, PAGE_REPORT_JS, chromium, find_chromium, serve

pytestmark = pytest.mark.browser

HTML = Path(
    os.environ.get("NTKLAB_HTML") or Path(__file__).resolve().parents[1] / "_build" / "html"
).resolve()
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _ensure_chromium() -> str:
    exe = find_chromium()
    if exe is None and IN_CI and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        exe = find_chromium()
    if exe is None:
        if IN_CI:
            pytest.fail("Chromium is required under CI and could not be installed")
        pytest.skip("Chromium not found (apt-get install chromium); the browser test needs it")
    return exe


def _is_redirect(path: Path) -> bool:
    """Jupyter Book's root index.html is a meta-refresh stub, not a page of the book."""
    text = path.read_text(errors="replace")
    return len(text) < 1000 and 'http-equiv="Refresh"' in text


def _pages() -> list[str]:
    if not (HTML / "index.html").exists():
        return []
    skip = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static"}
    return sorted(
        str(p.relative_to(HTML))
        for p in HTML.rglob("*.html")
        if not (set(p.relative_to(HTML).parts) & skip) and not _is_redirect(p)
    )


@pytest.fixture(scope="module")
def browser_page():
    if not (HTML / "index.html").exists():
        if IN_CI:
            pytest.fail(f"{HTML} has no built book: run `make book` first")
        pytest.skip(f"{HTML} has no built book: run `make book` first")
    exe = _ensure_chromium()
    with serve(HTML) as base, chromium(exe) as page:
        yield base, page


def _chapters() -> list[str]:
    return [p for p in _pages() if re.fullmatch(r"book/ch\d\d_\w+\.html", p)]


def test_the_book_has_pages():
    if not (HTML / "index.html").exists():
        pytest.skip("no built book")
    pages = _pages()
    assert "book/intro.html" in pages, pages
    assert "book/notation.html" in pages, pages


def test_root_index_redirects_to_an_existing_page():
    index = HTML / "index.html"
    if not index.exists():
        pytest.skip("no built book")
    match = re.search(r'url=([^"\']+)', index.read_text())
    assert match, "index.html has no redirect target"
    assert (HTML / match.group(1)).exists(), match.group(1)


@pytest.mark.parametrize("rel", _pages() or ["book/intro.html"])
def test_page_loads_offline_with_typeset_math(browser_page, rel):
    base, page = browser_page
    page.navigate(f"{base}/{rel}")
    report = page.evaluate(PAGE_REPORT_JS, await_promise=True)

    outside = [
        u
        for u in page.requests
        if urlparse(u).scheme not in {"data", "blob", "about"}
        and urlparse(u).hostname not in {"127.0.0.1", "localhost"}
    ]
    assert not outside, f"{rel} requests resources outside loopback: {outside[:5]}"
    assert not page.failures, f"{rel}: failed loads {page.failures[:5]}"
    assert not report["errors"], f"{rel}: MathJax errors {report['errors'][:5]}"
    assert not report["untypeset"], f"{rel}: untypeset math {report['untypeset'][:5]}"
    if report["nmath"]:
        assert report["mathjax"], f"{rel} has math but MathJax did not load"
    assert not report["broken"], f"{rel}: broken images {report['broken']}"
    assert not page.console_errors, f"{rel}: JavaScript errors {page.console_errors[:3]}"


def _layout(browser_page, rel: str, width: int) -> dict:
    base, page = browser_page
    page.set_width(width)
    try:
        page.navigate(f"{base}/{rel}")
        return page.evaluate(LAYOUT_REPORT_JS, await_promise=True)
    finally:
        page.set_width(1280)


@pytest.mark.parametrize("rel", _chapters() or ["book/ch01_linearization.html"])
def test_chapter_reads_at_1280px(browser_page, rel):
    report = _layout(browser_page, rel, 1280)
    problems = []
    if report["cut"] or report["cutScroll"]:
        cut = report["cut"] + report["cutScroll"]
        problems.append(f"{len(cut)} display equations wider than the column: {cut[:3]}")
    if report["widePre"]:
        problems.append(
            f"{len(report['widePre'])} code blocks wider than their box "
            f"(the box shows 73 characters): {report['widePre'][:3]}"
        )
    if report["uncaptioned"]:
        problems.append(f"{len(report['uncaptioned'])} figures without a caption")
    # headings read "1.8. Summary#" (number, title, permalink)
    if not any(re.fullmatch(r"[\d.\s]*Summary#?", h) for h in report["headings"]):
        problems.append(f"no 'Summary' section (h2 headings: {report['headings']})")
    if not report["ipynb"]:
        problems.append("no .ipynb download link")
    assert not problems, f"{rel} at 1280 px: " + "; ".join(problems)


@pytest.mark.parametrize("rel", _chapters() or ["book/ch01_linearization.html"])
def test_chapter_fits_a_phone_at_400px(browser_page, rel):
    report = _layout(browser_page, rel, 400)
    assert not report["cut"], f"{rel} at 400 px: displays cut off, not scrollable: {report['cut']}"
    assert not report["cueless"], (
        f"{rel} at 400 px: displays scroll without a visible cue: {report['cueless'][:3]}"
    )
    assert report["pageWidth"] <= report["width"] + 1, (
        f"{rel} at 400 px: the page is {report['pageWidth']} px wide; sticking out: "
        f"{report['overflowing']}"
    )
