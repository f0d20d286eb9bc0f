"""The address page in a real headless Chromium (Debian's package, driven by Playwright): type
an address, submit, read the band, the likely type of a flagged address, the profile and a
reason; screenshots at desktop and phone
width are kept in the test's tmp dir."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from eth_assets.serve.app import ServeSettings, create_app
from eth_assets_tests.fixtures import KNOWN, publish_hand_made_scores

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


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    settings = ServeSettings(published=tmp_path / "published", reports=tmp_path / "reports")
    publish_hand_made_scores(settings.published, "one", "eth_assets.illicit_classifier v1")
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


def test_look_up_an_address_in_chromium(served: str, tmp_path: Path) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: .ci/run installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            for name, width, height in (("desktop", 1280, 900), ("phone", 390, 844)):
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(served + "/")
                page.fill("#address", KNOWN.upper().replace("0X", "0x"))
                page.click("#submit")
                page.wait_for_selector("#band")
                assert page.inner_text("#band") == "critical"
                assert page.inner_text("#illicit-type") == "likely type: phishing (72 %)"
                assert page.inner_text("#profile-name") == "busy hubs"
                assert "distinct addresses received from: 312" in page.inner_text("#reasons")
                shot = tmp_path / f"address-page-{name}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                page.close()
        finally:
            browser.close()
