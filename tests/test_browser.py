"""The built book as a reader sees it: every chapter page in headless Chromium, offline.

Serves ``_build/html`` on localhost and opens each page with every other host unresolvable,
so a CDN dependency shows up as a console error. Needs Debian's ``chromium`` and
``chromium-driver`` (``.ci/run`` installs them) and a built book (``python3 run.py book``);
without either the test is skipped with a message, unless ``DLCORE_REQUIRE_BROWSER=1``
(set by CI) turns the skip into a failure. Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("DLCORE_BOOK_HTML", ROOT / "_build" / "html"))  # or another build
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _skip_or_fail(reason: str):
    if os.environ.get("DLCORE_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (DLCORE_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def chapter_pages() -> list[str]:
    return sorted(p.stem for p in (ROOT / "chapters").glob("*.md"))


@pytest.fixture(scope="module")
def site():
    if not (HTML / "index.html").exists():
        _skip_or_fail("the book is not built: run `python3 run.py book` first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        _skip_or_fail(
            "no Chromium: install Debian's chromium and chromium-driver to run browser tests"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _skip_or_fail("selenium is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
        # Offline beyond localhost: every other host name fails to resolve.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def open_page(browser, url: str) -> list[dict]:
    browser.get(url)
    # Wait for MathJax to finish typesetting (when the page has math).
    deadline = time.time() + 30
    while time.time() < deadline:
        done = browser.execute_script(
            "return !window.MathJax || !MathJax.startup || !MathJax.startup.promise ? 'none' :"
            " (window.__mjDone ? 'done' : (MathJax.startup.promise.then(() => window.__mjDone = true), 'wait'))"
        )
        if done in ("none", "done"):
            break
        time.sleep(0.2)
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_index_page_loads_offline(site, browser):
    errors = open_page(browser, f"{site}/index.html")
    assert not errors, [e["message"] for e in errors]
    links = browser.execute_script(
        "return [...document.querySelectorAll('a')].map(a => a.getAttribute('href'))"
    )
    for stem in chapter_pages():
        assert any(h and h.endswith(f"chapters/{stem}.html") for h in links), (
            f"index does not link {stem}"
        )


@pytest.mark.parametrize("stem", chapter_pages())
def test_chapter_page_reads_well(site, browser, stem):
    errors = open_page(browser, f"{site}/chapters/{stem}.html")
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{stem}.png"))
    assert not errors, f"console errors: {[e['message'] for e in errors]}"

    report = browser.execute_script("""
        const main = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
        const imgs = [...main.querySelectorAll('img')];
        const outputs = [...main.querySelectorAll('.cell_output')];
        const solutions = [...main.querySelectorAll('.solution')];
        const visible = el => el.offsetHeight > 0 && getComputedStyle(el).visibility !== 'hidden';
        return {
          text: main.innerText,
          math: main.querySelectorAll('mjx-container').length,
          mathErrors: main.querySelectorAll('mjx-merror').length,
          brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
          imagesWithoutAlt: imgs.filter(i => !i.alt && !i.closest('figure')).map(i => i.src),
          outputText: outputs.map(o => o.innerText).join('\\n'),
          stderr: main.querySelectorAll('.cell_output .stderr, .cell_output .output.error, .cell_output .traceback').length,
          nSolutions: solutions.length,
          openSolutions: solutions.filter(s => {
              const body = [...s.children].filter(c => !c.classList.contains('admonition-title')
                                                       && !c.classList.contains('toggle-button'));
              return body.some(visible);
          }).length,
          headings: [...main.querySelectorAll('h1, h2, h3, h4')].map(h => Number(h.tagName[1])),
          images: imgs.length,
        };
    """)
    assert report["math"] > 0, "no typeset math on the page"
    assert report["mathErrors"] == 0, "MathJax reported errors"
    assert "$$" not in report["text"], "raw $$ left in the page: math was not typeset"
    assert not report["brokenImages"], report["brokenImages"]
    assert report["images"] > 0, "a chapter without a single figure"
    assert not report["imagesWithoutAlt"], f"figures without alt text: {report['imagesWithoutAlt']}"
    assert "Traceback" not in report["outputText"] and report["stderr"] == 0, (
        "an output shows an error"
    )
    assert report["nSolutions"] >= 3, "fewer than three solutions on the page"
    assert report["openSolutions"] == 0, "solutions must be collapsed"
    heads = report["headings"]
    assert heads[0] == 1 and heads.count(1) == 1, heads
    assert all(b - a <= 1 for a, b in zip(heads, heads[1:])), f"headings skip a level: {heads}"


def test_search_finds_a_chapter_term(site, browser):
    open_page(browser, f"{site}/search.html?q=equivariance")
    deadline = time.time() + 30
    hits = []
    while time.time() < deadline and not hits:
        hits = browser.execute_script(
            "return [...document.querySelectorAll('#search-results a')].map(a => a.getAttribute('href'))"
        )
        time.sleep(0.3)
    assert any("01_convolution" in h for h in hits), hits
