"""The server's guards over a hand-made snapshot, each fault injected deterministically: request
bodies bounded by the bytes actually read, no input echoed at length, reports rate-limited per
client and capped in size, their count read once and never shown."""

from __future__ import annotations

import asyncio
import builtins
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from eth_assets.serve.app import MAX_BODY_BYTES, MAX_SCREEN_BYTES, ServeSettings, create_app
from eth_assets_tests.fixtures import KNOWN, publish_hand_made_scores

CHUNK = 64 * 1024


@pytest.fixture
def settings(tmp_path: Path) -> ServeSettings:
    settings = ServeSettings(published=tmp_path / "published", reports=tmp_path / "reports")
    publish_hand_made_scores(settings.published, "one", "eth_assets.illicit_classifier v1")
    return settings


@pytest.fixture
def client(settings: ServeSettings) -> TestClient:
    return TestClient(create_app(settings))


class Chunks:
    """A chunked body (no Content-Length) of `count` chunks of 64 KiB between `head` and `tail`,
    sent straight to the ASGI app (the test client reads a body whole before sending it),
    counting the chunks the app read."""

    def __init__(self, head: bytes, count: int, tail: bytes = b"") -> None:
        self.head, self.count, self.tail, self.read = head, count, tail, 0

    async def receive(self) -> dict[str, object]:
        if self.read == self.count:
            return {"type": "http.disconnect"}
        self.read += 1
        body = (self.head if self.read == 1 else b"") + b"a" * CHUNK
        last = self.read == self.count
        return {
            "type": "http.request",
            "body": body + (self.tail if last else b""),
            "more_body": not last,
        }

    def post(self, app: object, path: str, kind: str) -> tuple[int, bytes]:
        """POST this body to `path` of `app`: the status and the answer's bytes."""
        sent: list[dict[str, object]] = []

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", kind.encode()), (b"transfer-encoding", b"chunked")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        asyncio.run(app(scope, self.receive, send))  # type: ignore[operator]
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return int(status), body  # type: ignore[arg-type]


def test_a_chunked_body_is_refused_at_the_limit_not_read_whole(
    settings: ServeSettings, client: TestClient
) -> None:
    """A 12 MiB chunked batch (no Content-Length) stops being read once over 64 KiB, and the
    answer is a short 413, not the body echoed back."""
    app = create_app(settings)
    body = Chunks(b'{"addresses": ["', 192, b'"]}')
    status, answer = body.post(app, "/api/v1/addresses:batch", "application/json")
    assert status == 413 and body.read <= MAX_BODY_BYTES // CHUNK + 1
    assert len(answer) < 300 and "65,536 bytes" in json.loads(answer)["error"]
    # the screening route has its own, larger limit, counted the same way
    upload = Chunks(b"", 40)
    status, answer = upload.post(app, "/api/v1/screen", "text/csv")
    assert status == 413 and upload.read <= MAX_SCREEN_BYTES // CHUNK + 1
    assert f"{MAX_SCREEN_BYTES:,} bytes" in json.loads(answer)["error"]
    # a body under the limit still passes
    status, _ = Chunks(b"", 2).post(app, "/api/v1/screen", "text/csv")
    assert status == 200
    assert client.get("/healthz").status_code == 200


def test_a_declared_length_over_the_limit_is_refused_before_reading(client: TestClient) -> None:
    response = client.post(
        "/api/v1/reports",
        content=b"{" + b" " * MAX_BODY_BYTES + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413 and "65,536 bytes" in response.json()["error"]


def test_no_answer_echoes_long_input(client: TestClient) -> None:
    """An item, a screened line or a typed address of thousands of characters comes back cut
    to about 80, wherever the answer names it."""
    long = "0x" + "f" * 40_000
    results = client.post("/api/v1/addresses:batch", json={"addresses": [long, KNOWN]}).json()
    first = results["results"][0]
    assert first["status"] == 400 and len(first["input"]) <= 80 and len(first["error"]) < 200
    rows = client.post("/api/v1/screen", content=f"{long}\n{KNOWN}\n").json()["rows"]
    assert rows[0]["status"] == 400 and len(rows[0]["input"]) <= 80
    page = client.get("/", params={"address": "0x" + "f" * 6000})
    assert page.status_code == 400 and "f" * 200 not in page.text
    bad = client.post(
        "/api/v1/reports", json={"address": KNOWN, "claimed_label": "x" * 30_000, "text": ""}
    )
    assert bad.status_code == 400 and len(bad.content) < 500


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _report(client: TestClient, text: str = "") -> Response:
    return client.post(
        "/api/v1/reports", json={"address": KNOWN, "claimed_label": "normal", "text": text}
    )


def test_reports_are_rate_limited_per_client(settings: ServeSettings) -> None:
    """Two reports at once, then one a minute, per client address: the third is 429 with
    Retry-After, another client is not held up, and a minute later the first may report again."""
    clock = Clock()
    app = create_app(replace(settings, report_burst=2, reports_per_minute=1.0), clock=clock)
    one = TestClient(app, client=("198.51.100.7", 40000))
    other = TestClient(app, client=("203.0.113.9", 40000))
    assert [_report(one).status_code for _ in range(2)] == [201, 201]
    refused = _report(one)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
    assert "Too many reports" in refused.json()["error"]
    assert _report(other).status_code == 201
    clock.now += 30
    assert _report(one).headers["retry-after"] == "30"
    clock.now += 30
    assert _report(one).status_code == 201
    stored = settings.reports / "reports.jsonl"
    assert len(stored.read_text().splitlines()) == 4


def test_the_report_file_is_capped_and_never_truncated(settings: ServeSettings) -> None:
    """Once the file would grow over its cap, reports are refused with 507 and a clear message;
    what others reported stays byte for byte."""
    settings.reports.mkdir(parents=True)
    stored = settings.reports / "reports.jsonl"
    earlier = '{"address": "0x01", "text": "an earlier report"}\n'
    stored.write_text(earlier)
    capped = replace(settings, reports_max_bytes=2000, report_burst=100)
    client = TestClient(create_app(capped))
    statuses = [_report(client, "x" * 500).status_code for _ in range(5)]
    assert statuses[:2] == [201, 201] and statuses[-1] == 507
    full = _report(client, "x" * 500)
    assert "not accepting reports" in full.json()["error"]
    text = stored.read_text()
    assert text.startswith(earlier) and len(text.encode()) <= 2000
    assert len(text.splitlines()) == 1 + statuses.count(201)
    # a file over the cap at start (another process filled it) is left as it is
    stored.write_text(earlier * 100)
    before = stored.read_bytes()
    restarted = TestClient(create_app(capped))
    assert _report(restarted).status_code == 507 and stored.read_bytes() == before


def test_the_report_count_is_read_once_and_never_shown(
    settings: ServeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reports file is read once, when the app starts, to count its reports; no request
    reads it again, and no answer says how many there are."""
    settings.reports.mkdir(parents=True)
    (settings.reports / "reports.jsonl").write_text('{"address": "0x01"}\n' * 3)
    reads: list[str] = []
    real_open = io.open

    def spying_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if str(file).endswith("reports.jsonl") and "r" in mode:
            reads.append(mode)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(io, "open", spying_open)
    monkeypatch.setattr(builtins, "open", spying_open)
    app = create_app(settings)
    client = TestClient(app)
    assert len(reads) == 1 and app.state.reports.count == 3
    answers = [
        client.get("/"),
        client.get("/", params={"address": KNOWN}),
        client.get(f"/api/v1/addresses/{KNOWN}"),
        client.get("/healthz"),
        _report(client),
        _report(client),
    ]
    assert len(reads) == 1 and app.state.reports.count == 5
    keys = [*answers[3].json(), *answers[4].json(), *answers[5].json()]
    assert not [key for key in keys if "count" in key or key.startswith("reports")]
    footer = answers[0].text.split("<footer>")[1]
    assert "report" not in footer and "3 addresses scored" in footer
