"""A bad publish never takes the server down: a pointer that is not a snapshot's, a snapshot file
missing, a model file that is not a pickle, nothing published yet, each written by hand into a
published folder the app serves; /healthz says what serves and why."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from eth_assets.scores.snapshot import (
    CLEANING,
    LABELS,
    MANIFEST,
    MODEL,
    POINTER,
    POPULATIONS,
    PROFILES,
    publish_snapshot,
    read_current,
)
from eth_assets.serve import snapshot_loader as snapshot_module
from eth_assets.serve.app import ServeSettings, create_app
from eth_assets_tests.fixtures import KNOWN, UNKNOWN, publish_hand_made_scores

MODEL_NAME = "eth_assets.illicit_classifier v1"
# What no answer may hold: the places and settings of the server.
SERVER_DETAILS = ("/tmp", "/work", "ETH_ASSETS_", "address_scores", "current.json")


def _settings(tmp_path: Path) -> ServeSettings:
    return ServeSettings(published=tmp_path / "published", reports=tmp_path / "reports")


def _client(settings: ServeSettings) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False)


def _publish(
    folder: Path, name: str, tmp_path: Path, extra: dict[str, object] | None = None, **files
) -> dict[str, object]:
    """The hand-made snapshot published as `name` with its manifest beside it (as
    address_scores publishes it), `extra` in the manifest and `files` (suffix → bytes)
    attached; the manifest."""
    scratch = tmp_path / f"scratch-{name}"
    publish_hand_made_scores(scratch, name, MODEL_NAME)
    frame, pointer = read_current(scratch)
    manifest = {
        k: v for k, v in pointer.items() if k not in ("file", "rows", "attachments")
    } | dict(extra or {})
    attachments = {
        MANIFEST: lambda path: Path(path).write_text(json.dumps(manifest)),
        **{
            suffix: (lambda path, content=content: Path(path).write_bytes(content))
            for suffix, content in files.items()
        },
    }
    publish_snapshot(frame, folder, name, manifest, attachments=attachments)
    return manifest


def _health(client: TestClient) -> dict[str, object]:
    response = client.get("/healthz")
    assert not any(detail in response.text for detail in SERVER_DETAILS), response.text
    return response.json()


@pytest.mark.parametrize(
    ("pointer", "why"),
    [
        ("[]", "does not name a snapshot"),
        ("{}", "does not name a snapshot"),
        ('{"file": "gone.parquet"}', "its scores file is missing"),
        ("{not json", "not valid JSON"),
    ],
)
def test_a_bad_pointer_leaves_the_last_good_snapshot_serving(
    tmp_path: Path, pointer: str, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    _publish(settings.published, "one", tmp_path)
    client = _client(settings)
    assert client.get(f"/api/v1/addresses/{KNOWN}").status_code == 200
    reads: list[Path] = []
    monkeypatch.setattr(
        snapshot_module, "read_current", lambda folder: reads.append(folder) or read_current(folder)
    )
    (settings.published / POINTER).write_text(pointer)
    for _ in range(2):
        answer = client.get(f"/api/v1/addresses/{KNOWN}")
        assert answer.status_code == 200 and answer.json()["snapshot"] == "one.parquet"
        assert client.get("/", params={"address": KNOWN}).status_code == 200
    assert len(reads) == 1  # the bad pointer is not read again on every request
    health = _health(client)
    assert health["snapshot"] == "one.parquet" and health["newest_published"] is False
    assert health["status"] == "degraded" and why in health["fallback_reason"]
    # the next good publish is served at once
    _publish(settings.published, "two", tmp_path)
    assert client.get(f"/api/v1/addresses/{KNOWN}").json()["snapshot"] == "two.parquet"
    health = _health(client)
    assert health["newest_published"] is True and health["fallback_reason"] is None


def test_a_restart_after_a_bad_publish_serves_the_newest_readable_snapshot(
    tmp_path: Path,
) -> None:
    """A fresh process with nothing in memory falls back on the kept snapshots: the newest one
    whose files can be read."""
    settings = _settings(tmp_path)
    _publish(settings.published, "one", tmp_path)
    _publish(settings.published, "two", tmp_path)
    (settings.published / "two.parquet").write_bytes(b"not parquet")
    client = _client(settings)
    answer = client.get(f"/api/v1/addresses/{KNOWN}")
    assert answer.status_code == 200 and answer.json()["snapshot"] == "one.parquet"
    health = _health(client)
    assert health["snapshot"] == "one.parquet" and health["newest_published"] is False
    assert "its scores file cannot be read" in health["fallback_reason"]


def test_a_model_file_that_is_no_pickle_turns_off_only_on_the_fly_scoring(
    tmp_path: Path,
) -> None:
    """Known addresses keep answering; an address outside the snapshot gets 503 (it may have a
    history: it is not said to have none), and /healthz says why on-the-fly scoring is off."""
    settings = _settings(tmp_path)
    (tmp_path / "lake").mkdir()
    on_the_fly = {"allowed": True, "lake": str(tmp_path / "lake"), "as_of": "2021-06-30"}
    files = {
        MODEL: b"not a pickle",
        PROFILES: b"not a pickle either",
        CLEANING: b"{}",
        POPULATIONS: b"",
        LABELS: b"",
    }
    _publish(settings.published, "one", tmp_path, {"on_the_fly": on_the_fly}, **files)
    client = _client(settings)
    assert client.get(f"/api/v1/addresses/{KNOWN}").status_code == 200
    assert client.get("/", params={"address": KNOWN}).status_code == 200
    unknown = client.get(f"/api/v1/addresses/{UNKNOWN}")
    assert unknown.status_code == 503 and "retry-after" in unknown.headers
    batch = client.post("/api/v1/addresses:batch", json={"addresses": [KNOWN, UNKNOWN]})
    assert [r["status"] for r in batch.json()["results"]] == [200, 503]
    assert batch.headers["retry-after"] == "30"
    health = _health(client)
    assert health["snapshot"] == "one.parquet" and health["newest_published"] is True
    assert health["on_the_fly"]["on"] is False and health["status"] == "degraded"
    assert "model file" in health["on_the_fly"]["why_not"]


def test_before_the_first_publish_the_page_and_the_api_say_so(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    client = _client(settings)
    page = client.get("/")
    assert page.status_code == 503 and "not published yet" in page.text
    assert "<form" in page.text  # a readable page, not a bare error
    looked_up = client.get("/", params={"address": KNOWN})
    assert looked_up.status_code == 503 and "not published yet" in looked_up.text
    for answer in (
        client.get(f"/api/v1/addresses/{KNOWN}"),
        client.post("/api/v1/addresses:batch", json={"addresses": [KNOWN]}),
        client.post("/api/v1/screen", content=KNOWN),
        client.post("/api/v1/reports", json={"address": KNOWN, "claimed_label": "normal"}),
    ):
        assert answer.status_code == 503 and "not published yet" in answer.json()["error"]
        assert "retry-after" in answer.headers
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json()["status"] == "no snapshot"
    for answer in (page, looked_up, health):
        assert not any(detail in answer.text for detail in SERVER_DETAILS), answer.text
    # nothing readable published (a broken pointer, no kept snapshot): the same answers
    settings.published.mkdir(parents=True)
    (settings.published / POINTER).write_text("[]")
    assert client.get(f"/api/v1/addresses/{KNOWN}").status_code == 503
    # the first publish is served without a restart
    _publish(settings.published, "one", tmp_path)
    assert client.get(f"/api/v1/addresses/{KNOWN}").status_code == 200
    assert _health(client)["status"] == "ok"


def test_a_snapshot_without_the_columns_the_answer_needs_is_not_served(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _publish(settings.published, "one", tmp_path)
    client = _client(settings)
    assert client.get(f"/api/v1/addresses/{KNOWN}").status_code == 200
    scores = pl.DataFrame({"address": [KNOWN], "probability": [0.5]})
    publish_snapshot(scores, settings.published, "thin", {"model": MODEL_NAME})
    answer = client.get(f"/api/v1/addresses/{KNOWN}")
    assert answer.status_code == 200 and answer.json()["snapshot"] == "one.parquet"
    assert "band" in _health(client)["fallback_reason"]
