"""The address page in a real headless Chromium (Debian's package, driven by Playwright), at
desktop and 390 px phone width: on a hand-made snapshot (type, submit, read the band, type,
profile and reasons, send a report), on the simulated graph's snapshot (an illicit and a normal
address: reasons on both sides, counterparties with labels, exposure, the activity chart, the
simulated-data banner, nothing wider than the screen), and the API docs with the network cut.
Screenshots are kept in the test's tmp dir, and copied to $ETH_ASSETS_SCREENSHOTS when set."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import uvicorn

from eth_assets.scores.snapshot import read_current
from eth_assets.serve.app import ServeSettings, create_app
from eth_assets_tests.fixtures import KNOWN, Graph, publish_hand_made_scores

pytestmark = pytest.mark.e2e  # a browser and a uvicorn server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def serve(settings: ServeSettings) -> Iterator[str]:
    """The app on a free loopback port for the duration of the test."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the app did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    settings = ServeSettings(published=tmp_path / "published", reports=tmp_path / "reports")
    publish_hand_made_scores(settings.published, "one", "eth_assets.illicit_classifier v1")
    yield from serve(settings)


@pytest.fixture
def served_graph(graph: Graph, tmp_path: Path) -> Iterator[str]:
    """The app over the simulated graph's published snapshot (read only)."""
    settings = ServeSettings(
        published=graph.folder / "published" / "address_scores", reports=tmp_path / "reports"
    )
    yield from serve(settings)


@pytest.fixture
def browser():
    """Debian's Chromium, headless (skips without it)."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: .ci/run installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def keep(shot: Path) -> None:
    """Copy a screenshot to $ETH_ASSETS_SCREENSHOTS when that is set."""
    target = os.environ.get("ETH_ASSETS_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)


# Elements wider than the viewport (their right edge past it), as "tag#id.class: width".
OVERFLOWING = """() => {
  const limit = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll("body *")) {
    let clipped = false;
    for (let p = el.parentElement; p; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (style.overflowX === "auto" || style.overflowX === "scroll") { clipped = true; break; }
    }
    const box = el.getBoundingClientRect();
    if (!clipped && box.width > 0 && box.right > limit + 1) {
      wide.push(el.tagName + "#" + el.id + "." + el.className + ": " + Math.round(box.right));
    }
  }
  if (document.documentElement.scrollWidth > limit + 1) wide.push("page: " +
    document.documentElement.scrollWidth);
  return wide;
}"""


def test_look_up_an_address_in_chromium(served: str, browser, tmp_path: Path) -> None:
    for name, width, height in (("desktop", 1280, 900), ("phone", 390, 844)):
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(served + "/")
        page.fill("#address", KNOWN.upper().replace("0X", "0x"))
        page.click("#submit")
        page.wait_for_selector("#band")
        assert page.inner_text("#band") == "critical"
        assert page.inner_text("#illicit-type") == "likely type: phishing (72.0 %)"
        assert page.inner_text("#profile-name") == "busy hubs"
        assert "distinct addresses received from: 312" in page.inner_text("#reasons-up")
        assert "▼" in page.inner_text("#reasons-down")
        assert page.is_visible("#simulated-banner")
        assert page.evaluate(OVERFLOWING) == []
        page.select_option("#claimed-label", "normal")
        page.fill("#report-text", "our exchange's hot wallet")
        page.click("#report-submit")
        page.wait_for_function("document.getElementById('report-status').textContent.length > 0")
        assert page.inner_text("#report-status") == "Thank you: report received."
        shot = tmp_path / f"address-page-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        page.goto(served + "/?address=0x" + "12" * 20)  # unknown: a short message that fits
        assert page.is_visible("#error") and page.evaluate(OVERFLOWING) == []
        page.close()


def test_an_analyst_reads_an_illicit_and_a_normal_address(
    graph: Graph, served_graph: str, browser, tmp_path: Path
) -> None:
    scores, _ = read_current(graph.folder / "published" / "address_scores")
    scored = scores.filter(pl.col("has_activity"))
    illicit = scored.filter(pl.col("is_labelled_illicit")).sort("probability")[-1, "address"]
    normal = scored.filter(~pl.col("is_labelled_illicit")).sort("probability")[0, "address"]
    for who, address in (("illicit", illicit), ("normal", normal)):
        for name, width, height in (("desktop", 1280, 900), ("phone", 390, 844)):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(f"{served_graph}/?address={address}")
            page.wait_for_selector("#band")
            assert page.is_visible("#simulated-banner")
            up, down = page.inner_text("#reasons-up"), page.inner_text("#reasons-down")
            assert ("▲" in up) or ("▼" in down), (up, down)
            assert "points" in up + down
            exposure = page.inner_text("#exposure")
            assert "ETH received" in exposure and "%" in exposure
            counterparties = page.locator("#counterparties table.counterparties")
            assert counterparties.count() == 2 and counterparties.first.locator("tr").count() > 1
            assert page.locator("#activity-chart rect").count() > 0
            assert "simulated" in page.inner_text("#chain-source")
            assert page.evaluate(OVERFLOWING) == [], f"{who} at {name}"
            shot = tmp_path / f"address-page-{who}-{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            keep(shot)
            page.close()
    # The counterparties of the simulated chain carry labels: lists or entity kinds somewhere.
    page = browser.new_page()
    labelled = 0
    for address in scored.sort("probability", descending=True)["address"].head(10):
        page.goto(f"{served_graph}/?address={address}")
        labelled += page.locator("#counterparties .pill").count()
    assert labelled > 0, "no counterparty of the ten riskiest addresses carries a label"


def test_the_api_docs_render_with_the_network_cut(served: str, browser) -> None:
    page = browser.new_page()
    elsewhere: list[str] = []

    def only_loopback(route) -> None:
        if route.request.url.startswith(served):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(served + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "eth_assets address scores" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock").count() >= 5
    assert elsewhere == []
