"""The real app in a real browser: `streamlit run apps/Home.py` driven by Playwright + Debian Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from metasuite.apps.logic import REPO_ROOT
from metasuite.apps.logic.driving import load_pooled_model, load_protonet
from metasuite.apps.logic.sinusoid import load_sinusoid_model

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian Chromium is not installed at /usr/bin/chromium"),
]


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


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `streamlit run apps/Home.py` on a free port from the repo root; stop it afterwards."""
    load_sinusoid_model()  # train-and-cache the stand-in model (if needed) before the browser waits on it
    load_protonet()
    load_pooled_model()
    port = _free_port()
    log = (tmp_path_factory.mktemp("streamlit") / "server.log").open("w")
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(Path("apps") / "Home.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]
    server = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        _wait_for_http(f"http://localhost:{port}/_stcore/health", server, timeout=60)
        yield f"http://localhost:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_sinusoid_page_renders_a_plotly_chart(app_url: str, browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    try:
        page.goto(f"{app_url}/Sinusoid", wait_until="domcontentloaded")
        page.wait_for_selector('[data-testid="stPlotlyChart"] .js-plotly-plot', timeout=90_000)
        # both charts drawn and the model card (the last element of the script) rendered: the run finished
        expect(page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')).to_have_count(2, timeout=30_000)
        expect(page.locator('[data-testid="stTable"]')).to_contain_text("algorithm", timeout=30_000)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        expect(page.get_by_role("heading", name="Sinusoid regression")).to_be_visible()
        page.wait_for_timeout(1000)  # let plotly finish drawing the traces before the screenshot
        page.screenshot(path=str(tmp_path / "sinusoid.png"), full_page=True)
        assert (tmp_path / "sinusoid.png").stat().st_size > 10_000
    finally:
        page.close()


def test_driving_page_renders_the_support_set_and_adapts(app_url: str, browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    try:
        page.goto(f"{app_url}/Driving", wait_until="domcontentloaded")
        page.wait_for_selector('[data-testid="stImage"] img', timeout=90_000)
        expect(page.get_by_role("heading", name="Driving-scene classification")).to_be_visible()
        # the last element of the script (method comparison: a chart or the hint to produce it) rendered
        expect(page.get_by_role("heading", name="Method comparison")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Adapt").click()
        expect(page.locator('[data-testid="stMetric"]')).to_have_count(2, timeout=60_000)
        expect(page.locator('[data-testid="stMetric"]').first).to_contain_text("%")
        page.wait_for_selector('[data-testid="stPlotlyChart"] .js-plotly-plot', timeout=30_000)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        page.wait_for_timeout(1000)  # let plotly finish drawing before the screenshot
        page.screenshot(path=str(tmp_path / "driving.png"), full_page=True)
        assert (tmp_path / "driving.png").stat().st_size > 10_000
    finally:
        page.close()


def test_home_lists_the_sinusoid_domain(app_url: str, browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    try:
        page.goto(app_url, wait_until="domcontentloaded")
        page.wait_for_selector("text=meta-trains it", timeout=60_000)  # the last line of Home.py
        link = page.locator('[data-testid="stPageLink"]').filter(has_text="Sinusoid")
        expect(link).to_have_count(1, timeout=30_000)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        assert "sinusoid" in page.inner_text("body").lower()
        page.screenshot(path=str(tmp_path / "home.png"), full_page=True)
    finally:
        page.close()


def test_diagnosis_page_renders_the_strip_and_adapts(app_url: str, browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from metasuite.apps.logic.diagnosis import load_global_model, load_meta_learner
    from metasuite.domains.diagnosis.report import DISCLAIMER

    load_meta_learner()  # train-and-cache the stand-in (if needed) before the browser waits on it
    load_global_model()
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    try:
        page.goto(f"{app_url}/Diagnosis", wait_until="domcontentloaded")
        page.wait_for_selector('[data-testid="stPlotlyChart"] .js-plotly-plot', timeout=90_000)  # the ECG strip
        expect(page.get_by_role("heading", name="Diagnosis", exact=True)).to_be_visible()
        expect(page.get_by_text(DISCLAIMER).first).to_be_visible()
        # the last element of the script (the model card) rendered: the run finished
        expect(page.get_by_role("heading", name="Model card")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Adapt").click()
        expect(page.get_by_role("heading", name="Rhythm summary (decision aid)")).to_be_visible(timeout=120_000)
        expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1, timeout=30_000)
        expect(page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')).to_have_count(3, timeout=30_000)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        page.wait_for_timeout(1000)  # let plotly finish drawing before the screenshot
        page.screenshot(path=str(tmp_path / "diagnosis.png"), full_page=True)
        assert (tmp_path / "diagnosis.png").stat().st_size > 10_000
    finally:
        page.close()


def test_trading_page_backtests_the_synthetic_market(app_url: str, browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from metasuite.domains.trading.evaluation import DISCLAIMER

    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    try:
        page.goto(f"{app_url}/Trading", wait_until="domcontentloaded")
        expect(page.get_by_role("heading", name="Trading", exact=True)).to_be_visible(timeout=90_000)
        expect(page.get_by_text(DISCLAIMER).first).to_be_visible()
        # the server pre-trains the pooled model once, then backtests; the model caption is the script's last element
        expect(page.get_by_role("heading", name="Model", exact=True)).to_be_visible(timeout=180_000)
        expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1, timeout=30_000)
        expect(page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')).to_have_count(2, timeout=30_000)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        page.wait_for_timeout(1000)  # let plotly finish drawing before the screenshot
        page.screenshot(path=str(tmp_path / "trading.png"), full_page=True)
        assert (tmp_path / "trading.png").stat().st_size > 10_000
    finally:
        page.close()
