"""The built book in a real browser: ``_build/html`` served over HTTP on 127.0.0.1 and opened in
Chromium (Debian's ``/usr/bin/chromium`` unless ``MSP_CHROMIUM`` names another) through Playwright.

These tests run with ``make check-site`` after ``make book``. They fail, never skip, when the book is
not built or the browser is missing, with a message saying how to get it.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("MSP_SITE_DIR") or REPO / "_build" / "html")
SCREENSHOTS = Path(os.environ.get("MSP_SCREENSHOTS_DIR") or REPO / "_build" / "screenshots")
CHROMIUM = Path(os.environ.get("MSP_CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTHS = {"wide": 1280, "phone": 390}
HEIGHT = 900
#: hosts a page may load resources from besides the book itself (MathJax, once a page has maths);
#: the tests run offline, so such requests are aborted and their failure is not held against the page
THIRD_PARTY_HOSTS = {"cdn.jsdelivr.net"}


def site_pages() -> list[str]:
    """Every HTML page of the built book, relative to the site root (assets and the redirect left out)."""
    if not (SITE / "book" / "intro.html").exists():
        return []
    skip = ("_static/", "_sources/", "_images/")
    return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
                  if not p.relative_to(SITE).as_posix().startswith(skip) and p.name != "index.html")


def require_site() -> Path:
    if not site_pages():
        pytest.fail(f"no built book in {SITE}: run `make book` first (`make check-site` checks the "
                    f"book that `make book` built)")
    return SITE


def pytest_generate_tests(metafunc):
    """Parametrise over the built pages; with no built book, one case that fails and says so."""
    if "page_path" in metafunc.fixturenames:
        metafunc.parametrize("page_path", site_pages() or ["<no built book>"])
    if "width_name" in metafunc.fixturenames:
        metafunc.parametrize("width_name", list(WIDTHS))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="session")
def site() -> Path:
    return require_site()


@pytest.fixture
def width(width_name) -> int:
    return WIDTHS[width_name]


@pytest.fixture(scope="session")
def widths() -> dict[str, int]:
    return dict(WIDTHS)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where every page is photographed at both widths (``_build/screenshots/``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def launch_tree(site, tmp_path_factory) -> set[str]:
    """The files of the commit the deploy workflow publishes for the launch buttons, built by
    .github/launch_notebooks.py from HEAD and the executed chapters, in a throw-away clone."""
    clone = tmp_path_factory.mktemp("launch") / "repo"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(clone)], check=True)
    run = subprocess.run([sys.executable, str(REPO / ".github" / "launch_notebooks.py"), "--root", str(REPO),
                          "--git-dir", str(clone)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    commit = run.stdout.strip()
    files = subprocess.run(["git", "-C", str(clone), "ls-tree", "-r", "--name-only", commit],
                           capture_output=True, text=True, check=True).stdout.split()
    return set(files)


@pytest.fixture(scope="session")
def base_url(site) -> str:
    """A real HTTP server on 127.0.0.1 (an unused port) serving the built book, for the session."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser_context():
    """A Chromium with a fresh profile; never a browser downloaded by Playwright."""
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"no browser at {CHROMIUM}: install Debian's chromium (`apt-get install -y chromium`, "
                    f"which `make check-site` does when run as root) or set MSP_CHROMIUM to a "
                    f"Chromium or Chrome executable")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="msp-site-profile-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": WIDTHS["wide"], "height": HEIGHT})
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


class Visit:
    """One page opened in the browser, with what it logged and what it asked of other hosts."""

    def __init__(self, page, url: str):
        self.page, self.url = page, url
        self.errors: list[str] = []
        self.third_party: list[str] = []
        self.foreign: list[str] = []


def _opener(browser_context, base_url, pages: list):
    """``open_(path, width)``: a new tab at that width showing ``path``, loaded, with its console
    errors, uncaught exceptions and failed requests collected in the returned :class:`Visit`."""
    from urllib.parse import urlsplit

    def route(request_route):
        if urlsplit(request_route.request.url).hostname == "127.0.0.1":
            request_route.continue_()
        else:
            request_route.abort()  # offline by design: the book must not need other sites

    def open_(path: str, width: int) -> Visit:
        page = browser_context.new_page()
        pages.append(page)
        page.set_viewport_size({"width": width, "height": HEIGHT})
        visit = Visit(page, base_url + path)
        page.route("**/*", route)

        def on_request(request):
            host = urlsplit(request.url).hostname
            if host != "127.0.0.1":
                (visit.third_party if host in THIRD_PARTY_HOSTS else visit.foreign).append(request.url)

        def on_console(message):
            if message.type == "error":
                where = message.location.get("url", "")
                if urlsplit(where).hostname in THIRD_PARTY_HOSTS and where in visit.third_party:
                    return  # an aborted third-party load
                visit.errors.append(f"console error: {message.text} (at {where})")

        def on_failed(request):
            if urlsplit(request.url).hostname == "127.0.0.1":
                visit.errors.append(f"request failed: {request.url} ({request.failure})")

        def on_response(response):
            if response.status >= 400:
                visit.errors.append(f"HTTP {response.status}: {response.url}")

        page.on("request", on_request)
        page.on("console", on_console)
        page.on("pageerror", lambda error: visit.errors.append(f"uncaught exception: {error}"))
        page.on("requestfailed", on_failed)
        page.on("response", on_response)
        page.goto(visit.url, wait_until="load")
        page.wait_for_load_state("networkidle")
        return visit

    return open_


@pytest.fixture
def open_page(browser_context, base_url):
    """A fresh tab per call (see :func:`_opener`), closed after the test."""
    pages: list = []
    yield _opener(browser_context, base_url, pages)
    for page in pages:
        page.close()


@pytest.fixture(scope="session")
def visits(browser_context, base_url):
    """``visits(path, width)``: the tab showing that page at that width, opened once per session and
    shared by the checks of that page (the check that clicks runs last)."""
    pages: list = []
    open_ = _opener(browser_context, base_url, pages)
    cache: dict = {}

    def get(path: str, width: int) -> Visit:
        if (path, width) not in cache:
            cache[path, width] = open_(path, width)
        return cache[path, width]

    yield get
    for page in pages:
        page.close()
