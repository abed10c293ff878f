"""``metasuite bench app``: seconds until each page of the real app shows its first chart or table, cold and warm.

For every page in :data:`PAGES` the benchmark starts the real app (``python -m streamlit run apps/Home.py``,
:func:`serve_app`), opens the page in Debian Chromium through Playwright (viewport 1280x900) and measures

* ``first_content_s`` -- from ``page.goto`` until the page's first chart or table (:data:`FIRST_CONTENT`; Home:
  its first page link) is visible: what a visitor waits for before there is something to read;
* ``finished_s`` -- until the script run has ended (Streamlit's "Running…" indicator gone for a second): when
  every cache the page fills is written, so the next visit can use it.

Twice per repetition: **cold** -- a fresh server and ``$METASUITE_CACHE`` pointing at an empty temporary folder
(stand-in models, pooled models and backtests are all computed afresh); **warm** -- a fresh server again, on the
cache folder the cold pass filled (the in-process ``st.cache_*`` caches are empty: this is a second visit from
another session, served from the disk caches). ``ratios`` are ``warm / cold`` of ``first_content_s`` per page
(below 1: the warm visit is faster). ``--quick`` runs one repetition, otherwise :data:`FULL_REPEATS`; each
number is the median over repetitions.

The browser and server helpers are also used by ``tests/test_browser.py``. Needs the ``dev`` extra
(``playwright``) and Chromium at :data:`CHROMIUM`; ``playwright install`` is never run.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from metasuite.apps.logic import APPS_DIR, REPO_ROOT
from metasuite.core.paths import CACHE_ENV

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "FIRST_CONTENT",
    "PAGES",
    "VIEWPORT",
    "bench_app",
    "chromium",
    "serve_app",
    "time_page",
    "wait_until_finished",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 900}
#: The first useful element of a page: a drawn plotly chart, a data frame, an image or a table.
FIRST_CONTENT = (
    '[data-testid="stPlotlyChart"] .js-plotly-plot, [data-testid="stDataFrame"], '
    '[data-testid="stImage"], [data-testid="stTable"]'
)
#: Page -> (URL path, CSS selector of its first useful element). Home has no chart: its domain links.
PAGES = {
    "Home": ("", '[data-testid="stPageLink"]'),
    "Sinusoid": ("Sinusoid", FIRST_CONTENT),
    "Driving": ("Driving", FIRST_CONTENT),
    "Diagnosis": ("Diagnosis", FIRST_CONTENT),
    "Trading": ("Trading", FIRST_CONTENT),
    "Meta-RL": ("Meta_RL", FIRST_CONTENT),
    "Any domain": ("Any_domain", FIRST_CONTENT),
}
FULL_REPEATS = 3
PAGE_TIMEOUT_S = 600.0  # a cold page may quick-train a stand-in on a busy 2-core machine


# ---------------------------------------------------------------------------- the server and the browser
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_http(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer {url} within {timeout:.0f} s")


@contextmanager
def serve_app(cache: str | Path | None = None, log: str | Path | None = None, timeout: float = 60) -> Iterator[str]:
    """Run ``python -m streamlit run apps/Home.py`` (headless, a free port) from the repository root; yield its URL.

    ``cache`` becomes the server's ``$METASUITE_CACHE`` (None: inherited); ``log`` receives its output (None:
    discarded). The server is stopped on exit -- this process's own child, by its PID, never by name.
    """
    port = _free_port()
    env = {**os.environ, **({CACHE_ENV: str(cache)} if cache is not None else {})}
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APPS_DIR / "Home.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]
    out = open(log, "w") if log is not None else subprocess.DEVNULL  # noqa: SIM115 -- closed below
    server = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_for_http(f"http://localhost:{port}/_stcore/health", server, timeout)
        yield f"http://localhost:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if out is not subprocess.DEVNULL:
            out.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian Chromium (:data:`CHROMIUM`, headless) through Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise FileNotFoundError(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


_VISIBLE_JS = """selector => [...document.querySelectorAll(selector)].some(el => {
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && style.visibility !== 'hidden' && style.display !== 'none';
})"""
_RUNNING_JS = """() => document.querySelector('[data-testid="stStatusWidgetRunningIcon"]') !== null"""


def wait_until_finished(page: Any, timeout: float = PAGE_TIMEOUT_S, quiet: float = 1.0) -> None:
    """Block until the page's script run has ended: Streamlit's "Running…" indicator absent for ``quiet`` s."""
    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    while time.monotonic() < deadline:
        if page.evaluate(_RUNNING_JS):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= quiet:
            return
        page.wait_for_timeout(200)
    raise TimeoutError(f"{page.url} was still running after {timeout:.0f} s")


def time_page(browser: Any, url: str, selector: str, timeout: float = PAGE_TIMEOUT_S) -> dict[str, Any]:
    """Open ``url`` in a fresh browser context; seconds until ``selector`` is visible and until the run ended.

    Returns ``{"first_content_s", "finished_s", "exceptions"}`` (``exceptions``: Streamlit exception boxes shown).
    """
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_function(_VISIBLE_JS, arg=selector, timeout=timeout * 1000, polling=100)
        first = time.perf_counter() - t0
        wait_until_finished(page, timeout)
        finished = time.perf_counter() - t0
        exceptions = page.locator('[data-testid="stException"]').count()
    finally:
        context.close()
    return {"first_content_s": round(first, 2), "finished_s": round(finished, 2), "exceptions": exceptions}


# ---------------------------------------------------------------------------- the benchmark
def _pass(browser: Any, cache: Path, log: Path) -> dict[str, dict[str, Any]]:
    """Every page once, in :data:`PAGES` order, on a fresh server over ``cache``."""
    with serve_app(cache, log) as url:
        return {name: time_page(browser, f"{url}/{path}", selector) for name, (path, selector) in PAGES.items()}


def _median(runs: list[dict[str, dict[str, Any]]], page: str, key: str) -> float:
    return round(statistics.median(run[page][key] for run in runs), 2)


def bench_app(quick: bool = False) -> dict[str, Any]:
    """Cold and warm first-chart and finished times of every page (see the module docstring)."""
    repeats = 1 if quick else FULL_REPEATS
    runs: dict[str, list[dict[str, dict[str, Any]]]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="metasuite-bench-app-") as tmp, chromium() as browser:
        for k in range(repeats):
            cache = Path(tmp) / f"cache-{k}"
            for mode in ("cold", "warm"):
                runs[mode].append(_pass(browser, cache, Path(tmp) / f"server-{mode}-{k}.log"))
    pages = {
        name: {
            mode: {key: _median(runs[mode], name, key) for key in ("first_content_s", "finished_s")}
            | {"exceptions": max(run[name]["exceptions"] for run in runs[mode])}
            for mode in runs
        }
        for name in PAGES
    }
    ratios = {
        name: round(p["warm"]["first_content_s"] / p["cold"]["first_content_s"], 3)
        for name, p in pages.items()
        if p["cold"]["first_content_s"] > 0
    }
    return {
        "unit": "seconds from page.goto (median of the repetitions)",
        "viewport": VIEWPORT,
        "repeats": repeats,
        "modes": {
            "cold": "fresh server, empty METASUITE_CACHE",
            "warm": "fresh server, the cache the cold pass filled",
        },
        "pages": pages,
        "runs": runs,
        "ratios": ratios,
    }
