"""The address page and JSON API over a hand-made published snapshot."""

from __future__ import annotations

import re
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
    raising, lowering = data["illicit"]["reasons"]
    assert raising["direction"] == "raises" and raising["points"] == 0.3125
    assert raising["feature"] == "unique_received_from_addresses" and raising["value"] == 312.0
    assert lowering["direction"] == "lowers" and lowering["points"] < 0
    assert data["illicit"]["reason_features"] == [
        "unique_received_from_addresses",
        "time_diff_between_first_and_last_mins",
    ]
    assert data["illicit"]["interval"] == [0.88, 0.96]
    assert data["illicit"]["confidence"].startswith("confident")
    assert data["illicit_type"] == "phishing" and data["illicit_type_probability"] == 0.72
    assert data["profile"]["name"] == "busy hubs"
    assert data["profile"]["values"] == {
        "transactions": {"label": "transactions and token transfers", "value": 29.0, "shown": "29"}
    }
    assert data["label_lists"] == [
        {"source": "mew_darklist", "category": "phishing", "name": "Fake MEW", "date": "2018-01-02"}
    ]
    assert data["as_of"] == "2021-06-30T00:00:00+00:00"
    assert data["chain_source"].startswith("simulated") and data["simulated"] is True
    assert data["data_age_days"] > 365
    assert data["links"]["etherscan"] == "https://etherscan.io/address/" + data["checksummed"]
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
    body = response.json()
    assert "not among the 3 addresses scored as of 2021-06-30" in body["error"]
    assert "not a clean bill" in body["error"] and len(body["error"].split()) < 30
    assert "published without what on-the-fly scoring needs" in body["detail"]


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


def test_bad_bodies_get_400_or_413_and_the_app_keeps_serving(setup) -> None:
    client, _ = setup
    huge = client.post(
        "/api/v1/addresses:batch",
        content=b'{"addresses": ["' + b"a" * 1_000_000 + b'"]}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413 and "65,536 bytes" in huge.json()["error"]
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
    assert results[0]["illicit"]["reasons"][0]["direction"] == "raises"
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
    assert restarted.get("/").status_code == 200
    assert len(settings.reports.joinpath("reports.jsonl").read_text().splitlines()) == 1


def test_the_page_shows_profile_band_reasons_and_lists(setup) -> None:
    client, _ = setup
    page = client.get("/", params={"address": KNOWN})
    assert page.status_code == 200
    text = page.text
    assert 'id="band">critical<' in text and "busy hubs" in text
    assert 'id="simulated-banner"' in text
    up = text[text.index('id="reasons-up"') : text.index('id="reasons-down"')]
    down = text[text.index('id="reasons-down"') :]
    assert "▲ +31.2 points" in up and "distinct addresses received from: 312" in up
    assert "▼ −5.1 points" in down and "4.0 days" in down
    assert "<td>mew_darklist</td><td>phishing</td><td>Fake MEW</td>" in text
    assert '<p id="illicit-type">likely type: phishing (72.0 %)</p>' in text
    assert "likely 88.0 %–96.0 %" in text and 'id="confidence">confident' in text
    assert 'id="report-form"' in text and "<script src" not in text
    assert "https://etherscan.io/address/" in text
    unflagged = client.get("/", params={"address": CHECKSUMMED})
    assert unflagged.status_code == 200 and "likely type" not in unflagged.text
    assert client.get("/", params={"address": "0x12"}).status_code == 400
    unknown = client.get("/", params={"address": UNKNOWN})
    assert unknown.status_code == 404 and "<details>" in unknown.text
    assert "ETH_ASSETS_" not in unknown.text


def test_a_csv_of_addresses_is_screened_line_by_line(setup) -> None:
    client, _ = setup
    upload = f"address,note\n{KNOWN},ours\n\n0x12,typo\n{UNKNOWN},x\n{CHECKSUMMED},y\n"
    response = client.post("/api/v1/screen", content=upload, headers={"content-type": "text/csv"})
    assert response.status_code == 200
    rows = response.json()["rows"]
    assert [(r["line"], r["status"]) for r in rows] == [(2, 200), (4, 400), (5, 404), (6, 200)]
    assert rows[0]["band"] == "critical" and rows[0]["probability"] == 0.93
    assert rows[0]["raising_reasons"].startswith("raises the risk by 31.2 points")
    assert rows[0]["label_lists"] == "mew_darklist: phishing"
    assert "wrong length" in rows[1]["error"]
    as_csv = client.post(
        "/api/v1/screen?format=csv",
        files={"file": ("list.csv", f"{KNOWN}\n0x12\n".encode(), "text/csv")},
    )
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.splitlines()
    assert lines[0].startswith("line,input,address,status,band,probability")
    assert lines[1].startswith(f"1,{KNOWN},{KNOWN},200,critical,0.93")
    assert lines[2].startswith("2,0x12,,400,")


def test_screening_is_bounded(setup) -> None:
    client, settings = setup
    too_many = "\n".join([KNOWN] * (settings.screen_limit + 1))
    response = client.post("/api/v1/screen", content=too_many)
    assert response.status_code == 400 and "the limit is 1,000" in response.json()["error"]
    huge = client.post("/api/v1/screen", content=b"0" * (600 * 1024))
    assert huge.status_code == 413 and "524,288 bytes" in huge.json()["error"]
    form = client.post(
        "/api/v1/screen", files={"file": ("big.csv", b"0" * (600 * 1024), "text/csv")}
    )
    assert form.status_code == 413 and "524,288 bytes" in form.json()["error"]
    binary = client.post("/api/v1/screen", content=b"\xff\xfe\x00")
    assert binary.status_code == 400 and "not UTF-8" in binary.json()["error"]


def test_the_api_docs_load_nothing_from_elsewhere(setup) -> None:
    client, _ = setup
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "swagger-ui-bundle.js" in docs
    for path in re.findall(r'(?:src|href)="(/[^"]+)"', docs):
        assert client.get(path).status_code == 200, path


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
