"""The address page and JSON API over a hand-made published snapshot."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from eth_assets.serve.app import ServeSettings, create_app
from eth_assets_tests.fixtures import (
    CHECKSUMMED,
    KNOWN,
    QUIET,
    UNKNOWN,
    publish_hand_made_scores,
)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[TestClient, ServeSettings]:
    settings = ServeSettings(
        published=tmp_path / "published", reports=tmp_path / "reports", batch_limit=3
    )
    publish_hand_made_scores(settings.published, "one", "eth_assets.illicit_classifier v1")
    return TestClient(create_app(settings)), settings


def test_a_scored_address_is_answered_in_full(setup) -> None:
    client, _ = setup
    data = client.get(f"/api/v1/addresses/{KNOWN.upper().replace('0X', '0x')}").json()
    assert data["address"] == KNOWN
    assert data["illicit"]["band"] == "critical" and data["illicit"]["probability"] == 0.93
    assert data["illicit"]["reasons"] == ["distinct addresses received from: 312"]
    assert data["illicit_type"] == "phishing" and data["illicit_type_probability"] == 0.72
    assert data["profile"]["name"] == "busy hubs"
    assert data["profile"]["values"] == {"transactions": 29.0}
    assert data["label_lists"] == ["mew_darklist: phishing — Fake MEW (2018-01-02)"]
    assert data["as_of"] == "2021-06-30T00:00:00+00:00"
    assert data["links"]["mlflow_model"].endswith(
        "/#/models/eth_assets.illicit_classifier/versions/1"
    )
    checksummed = client.get(f"/api/v1/addresses/{CHECKSUMMED}")
    assert checksummed.status_code == 200


def test_an_address_without_activity_has_no_score(setup) -> None:
    client, _ = setup
    data = client.get(f"/api/v1/addresses/{QUIET}").json()
    assert data["illicit"]["band"] == "no activity" and data["illicit"]["probability"] is None
    assert data["illicit_type"] is None and data["illicit_type_probability"] is None


def test_an_unknown_address_is_404_with_the_reason(setup) -> None:
    client, _ = setup
    response = client.get(f"/api/v1/addresses/{UNKNOWN}")
    assert response.status_code == 404
    error = response.json()["error"]
    assert "not among the 3 addresses scored as of 2021-06-30" in error
    assert "published without what on-the-fly scoring needs" in error
    assert "never reported as clean" in error


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("0x" + "a" * 39, "wrong length: 39"),
        ("0x" + "a" * 41, "wrong length: 41"),
        ("0x" + "g" * 40, "not hexadecimal"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "checksummed form is " + CHECKSUMMED),
        ("0x' OR 1=1 --", "not hexadecimal"),
        (" ", "empty"),
    ],
)
def test_malformed_addresses_get_400_naming_the_problem(setup, address: str, problem: str) -> None:
    client, _ = setup
    response = client.get("/api/v1/addresses/" + address)
    assert response.status_code == 400
    assert problem in response.json()["error"]


def test_bad_bodies_get_400_and_the_app_keeps_serving(setup) -> None:
    client, _ = setup
    huge = client.post(
        "/api/v1/addresses:batch",
        content=b'{"addresses": ["' + b"a" * 1_000_000 + b'"]}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 400 and "bytes" in huge.json()["error"]
    wrong_shape = client.post("/api/v1/addresses:batch", json={"address": KNOWN})
    assert wrong_shape.status_code == 400 and "addresses" in wrong_shape.json()["error"]
    over_cap = client.post("/api/v1/addresses:batch", json={"addresses": [KNOWN] * 4})
    assert over_cap.status_code == 400 and "limit is 3" in over_cap.json()["error"]
    assert client.get("/healthz").json()["scored_addresses"] == 3


def test_batches_answer_every_item_in_full(setup) -> None:
    client, _ = setup
    results = client.post(
        "/api/v1/addresses:batch", json={"addresses": [KNOWN, UNKNOWN, "0x12"]}
    ).json()["results"]
    assert [r["status"] for r in results] == [200, 404, 400]
    assert results[0]["illicit_type"] == "phishing"
    assert results[0]["illicit"]["reasons"] == ["distinct addresses received from: 312"]
    assert "wrong length" in results[2]["error"]


def test_reports_are_stored_and_survive_a_restart(setup) -> None:
    client, settings = setup
    created = client.post(
        "/api/v1/reports",
        json={"address": KNOWN, "claimed_label": "normal", "text": "our exchange's hot wallet"},
    )
    assert created.status_code == 201
    assert created.json()["model"] == "eth_assets.illicit_classifier v1"
    bad = client.post("/api/v1/reports", json={"address": KNOWN, "claimed_label": "maybe"})
    assert bad.status_code == 400
    restarted = TestClient(create_app(settings))
    assert "1 misclassification reports" in restarted.get("/").text


def test_the_page_shows_profile_band_reasons_and_lists(setup) -> None:
    client, _ = setup
    page = client.get("/", params={"address": KNOWN})
    assert page.status_code == 200
    text = page.text
    assert 'id="band">critical<' in text and "busy hubs" in text
    assert "distinct addresses received from: 312" in text
    assert "mew_darklist: phishing" in text and "<script" not in text
    assert '<p id="illicit-type">likely type: phishing (72 %)</p>' in text
    unflagged = client.get("/", params={"address": CHECKSUMMED})
    assert unflagged.status_code == 200 and "likely type" not in unflagged.text
    assert client.get("/", params={"address": "0x12"}).status_code == 400
    assert client.get("/", params={"address": UNKNOWN}).status_code == 404


def test_a_new_snapshot_is_served_without_restart_and_never_mixed(setup) -> None:
    """Requests keep coming while the snapshot switches: none fails, and each answer's model
    matches the snapshot it names."""
    client, settings = setup
    failures: list[str] = []
    seen: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            response = client.get(f"/api/v1/addresses/{KNOWN}")
            if response.status_code != 200:
                failures.append(str(response.status_code))
                continue
            data = response.json()
            version = {"one.parquet": "v1", "two.parquet": "v2"}[data["snapshot"]]
            if not data["model"].endswith(version):
                failures.append(f"{data['snapshot']} answered by {data['model']}")
            seen.add(data["snapshot"])

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    publish_hand_made_scores(settings.published, "two", "eth_assets.illicit_classifier v2")
    while "two.parquet" not in seen and not failures:
        threading.Event().wait(0.01)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert client.get("/healthz").json()["snapshot"] == "two.parquet"
