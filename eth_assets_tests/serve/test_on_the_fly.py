"""On-the-fly scoring over the session's materialized graph: an address the snapshot lacks but
the lake holds is scored by the same SQL, cleaning and model; anything else gets 404 saying why."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from eth_assets.features.feature_provenance import Provenance
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets.scores.publication import on_the_fly_terms
from eth_assets.scores.snapshot import POINTER, read_current
from eth_assets.serve.app import ServeSettings, create_app
from eth_assets.serve.snapshot_loader import load_snapshot
from eth_assets_tests.fixtures import Graph, publish_hand_made_scores

NOBODY = "0x" + "12" * 20  # never on the simulated chain


def _published(graph: Graph) -> Path:
    return graph.folder / "published" / "address_scores"


@pytest.fixture(scope="module")
def client(graph: Graph, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    reports = tmp_path_factory.mktemp("reports")
    return TestClient(create_app(ServeSettings(published=_published(graph), reports=reports)))


def _active_held_out(graph: Graph, client: TestClient) -> list[tuple[str, dict]]:
    answers = [(a, client.get(f"/api/v1/addresses/{a}")) for a in graph.held_out]
    return [(a, r.json()) for a, r in answers if r.status_code == 200]


def test_an_address_outside_the_snapshot_is_scored_on_the_fly(graph: Graph, client) -> None:
    scores, manifest = read_current(_published(graph))
    assert manifest["on_the_fly"]["allowed"] is True
    assert not set(graph.held_out) & set(scores["address"])
    answered = _active_held_out(graph, client)
    assert len(answered) >= len(graph.held_out) // 2, "most held-out accounts have history"
    for _, data in answered:
        assert data["scored"] == "on the fly" and data["scored_at"]
        risk = data["illicit"]
        assert 0 <= risk["probability"] <= 1
        assert risk["band"] in {"low", "medium", "high", "critical"}
        assert risk["flagged"] == (risk["probability"] >= risk["threshold"])
        assert data["profile"]["name"] and data["profile"]["values"]
        assert data["model"] == manifest["model"] and data["as_of"] == manifest["as_of"]
    with_reasons = [d for _, d in answered if d["illicit"]["reasons"]]
    # a numeric reason carries its percentiles; a token name (a category) has none to carry
    numeric = [
        r for d in with_reasons for r in d["illicit"]["reasons"] if r.get("category") is None
    ]
    assert numeric and all("% of scored addresses" in r["sentence"] for r in numeric)
    page = client.get("/", params={"address": answered[0][0]})
    assert page.status_code == 200 and "scored on the fly" in page.text


def test_the_one_address_path_reproduces_the_snapshot(graph: Graph) -> None:
    """Scored addresses recomputed through the on-the-fly path: same features, cleaning, model
    and populations give the same probability, reasons and profile."""
    snapshot = load_snapshot(_published(graph))
    assert snapshot.on_the_fly is not None and snapshot.on_the_fly.type_model is not None
    active = [a for a, row in snapshot.rows.items() if row["has_activity"]][:40]
    again = snapshot.on_the_fly.score(active)
    for address in active:
        stored, fresh = snapshot.rows[address], again[address]
        assert fresh is not None
        assert fresh["probability"] == pytest.approx(stored["probability"], abs=1e-9)
        assert fresh["band"] == stored["band"]
        assert fresh["reasons"] == list(stored["reasons"])
        assert fresh["profile_id"] == stored["profile_id"]
        assert json.loads(fresh["profile_values"]) == pytest.approx(
            json.loads(stored["profile_values"])
        )


def test_the_one_address_path_names_the_same_type(graph: Graph) -> None:
    """Flagged addresses recomputed on the fly get the snapshot's likely type and probability;
    the others none."""
    snapshot = load_snapshot(_published(graph))
    assert snapshot.on_the_fly is not None and snapshot.on_the_fly.type_model is not None
    active = [a for a, row in snapshot.rows.items() if row["has_activity"]]
    flagged = [a for a in active if snapshot.rows[a]["is_flagged"]][:10]
    unflagged = [a for a in active if not snapshot.rows[a]["is_flagged"]][:5]
    assert flagged and unflagged
    again = snapshot.on_the_fly.score(flagged + unflagged)
    for address in flagged:
        stored, fresh = snapshot.rows[address], again[address]
        assert fresh is not None and fresh["illicit_type"] == stored["illicit_type"]
        assert fresh["illicit_type_probability"] == pytest.approx(
            stored["illicit_type_probability"], abs=1e-6
        )
    assert all(again[a]["illicit_type"] is None for a in unflagged)


def test_an_address_without_history_is_404_naming_the_cutoff(graph: Graph, client) -> None:
    response = client.get(f"/api/v1/addresses/{NOBODY}")
    assert response.status_code == 404
    answer = response.json()
    assert "no transaction or token transfer before 2021-01-21" in answer["error"]
    assert "not a clean bill" in answer["error"]
    assert f"searched for {NOBODY}" in answer["detail"]


def test_a_batch_mixes_snapshot_on_the_fly_unknown_and_malformed(graph: Graph, client) -> None:
    scores, _ = read_current(_published(graph))
    held_out = _active_held_out(graph, client)[0][0]
    items = [scores["address"][0], held_out, NOBODY, "0x123", held_out]
    results = client.post("/api/v1/addresses:batch", json={"addresses": items}).json()["results"]
    assert [r["status"] for r in results] == [200, 200, 404, 400, 200]
    assert [r.get("scored") for r in results] == [
        "snapshot",
        "on the fly",
        None,
        None,
        "on the fly",
    ]
    assert results[1]["illicit"] == results[4]["illicit"]


def test_a_store_of_partial_histories_is_not_scored_on_the_fly(graph: Graph, tmp_path) -> None:
    """The same snapshot, published as from a store that holds only the universe's histories:
    an address outside it gets 404 saying why, not a score of a fragment."""
    folder = tmp_path / "published"
    shutil.copytree(_published(graph), folder)
    manifest = json.loads((folder / POINTER).read_text())
    manifest["on_the_fly"] = on_the_fly_terms(
        _provenance(
            chain_source="parquet:/data/raw_txns",
            as_of=datetime.fromisoformat(manifest["as_of"]),
            complete_histories=False,
            lake=manifest["on_the_fly"]["lake"],
        ),
        {"chain_source": "parquet:/data/raw_txns", "as_of": manifest["as_of"]},
    )
    (folder / POINTER).write_text(json.dumps(manifest))
    client = TestClient(create_app(ServeSettings(published=folder, reports=tmp_path / "r")))
    response = client.get(f"/api/v1/addresses/{graph.held_out[0]}")
    assert response.status_code == 404
    answer = response.json()
    assert "not among the 450 addresses scored" in answer["error"]
    # the page names no setting; the on-the-fly terms in the manifest still do
    assert "holds whole histories only for the universe's addresses" in answer["detail"]
    assert "ETH_ASSETS_PARQUET_COMPLETE_HISTORIES=true" in manifest["on_the_fly"]["why_not"]


def _provenance(**fields: object) -> Provenance:
    """A provenance of address_features from a local lake of whole histories, but `fields`."""
    whole: dict[str, object] = {
        "as_of": datetime(2021, 1, 21, tzinfo=UTC),
        "engine": "local",
        "chain_source": "simulated:seed=42",
        "complete_histories": True,
        "store_kind": "full chain",
        "market_gas_prices": "the store's own days",
        "lake": "/lake",
        "excluded_tokens": ("0xabc",),
    }
    return Provenance(**{**whole, **fields})  # type: ignore[arg-type]


def test_on_the_fly_terms_say_why_not() -> None:
    fit = {"chain_source": "simulated:seed=42", "as_of": "2021-01-21T00:00:00+00:00"}
    whole = _provenance()
    assert on_the_fly_terms(whole, fit)["allowed"] is True
    assert on_the_fly_terms(whole, fit)["excluded_tokens"] == ["0xabc"]
    assert on_the_fly_terms(whole, fit)["as_of"] == "2021-01-21T00:00:00+00:00"
    cases = {
        "materialize it again": None,
        "computed in BigQuery": _provenance(engine="bigquery"),
        "materialize clean_features": _provenance(as_of=datetime(2021, 2, 1, tzinfo=UTC)),
        "whole histories only": _provenance(complete_histories=False),
    }
    for expected, provenance in cases.items():
        terms = on_the_fly_terms(provenance, fit)
        assert terms["allowed"] is False and expected in terms["why_not"], expected


def test_only_full_chain_sources_hold_complete_histories(monkeypatch) -> None:
    from eth_assets.resources import chain_source_from_env

    assert ParquetChainSource().holds_complete_histories() is False
    monkeypatch.setenv("ETH_ASSETS_SOURCE", "parquet")
    monkeypatch.setenv("ETH_ASSETS_PARQUET_COMPLETE_HISTORIES", "true")
    assert chain_source_from_env().holds_complete_histories() is True
    monkeypatch.setenv("ETH_ASSETS_PARQUET_COMPLETE_HISTORIES", "maybe")
    with pytest.raises(ValueError, match="ETH_ASSETS_PARQUET_COMPLETE_HISTORIES='maybe'"):
        chain_source_from_env()


def test_a_snapshot_without_model_files_still_serves_its_scores(tmp_path) -> None:
    publish_hand_made_scores(tmp_path, "one", "eth_assets.illicit_classifier v1")
    snapshot = load_snapshot(tmp_path)
    assert snapshot.on_the_fly is None and "published without" in snapshot.on_the_fly_note
    assert len(snapshot.rows) == 3


def test_the_published_context_is_what_the_on_the_fly_path_computes(graph: Graph) -> None:
    """Scored addresses' exposure, counterparties, activity and holdings, recomputed on the fly
    from the lake with the snapshot's listed and flagged sets, equal the published ones."""
    snapshot = load_snapshot(_published(graph))
    assert snapshot.on_the_fly is not None and snapshot.contexts is not None
    active = [a for a, row in snapshot.rows.items() if row["has_activity"]][:25]
    for address in active:
        published = snapshot.contexts.parts(address)
        fresh = snapshot.on_the_fly.context(address)
        assert published is not None and fresh is not None
        assert fresh["counterparties"] == published["counterparties"]
        assert fresh["activity"] == published["activity"]
        assert fresh["holdings"] == published["holdings"]
        for measure, values in published["exposure"].items():
            if isinstance(values, dict):
                assert fresh["exposure"][measure] == pytest.approx(values, abs=1e-12), measure
            else:
                assert fresh["exposure"][measure] == values


def test_a_held_out_address_gets_its_context_on_the_fly(graph: Graph) -> None:
    snapshot = load_snapshot(_published(graph))
    contexts = [(a, snapshot.context(a)) for a in graph.held_out]
    answered = [(a, c) for a, c in contexts if c is not None]
    assert answered, "held-out accounts with history get a context"
    address, context = answered[0]
    assert set(context) == {"exposure", "counterparties", "activity", "holdings", "score_history"}
    assert context["exposure"]["indirect_note"] == ""  # the simulated chain is whole
    assert context["exposure"]["eth_received"]["indirect_listed_share"] is not None
    assert context["activity"]["first_seen"] and context["activity"]["monthly"]
    row = snapshot.on_the_fly.score([address])[address]
    assert context["score_history"][-1]["snapshot"] == snapshot.name
    assert context["score_history"][-1]["probability"] == row["probability"]
    assert snapshot.context(NOBODY) is None


def test_the_snapshot_declares_the_label_lists_of_its_exposure(graph: Graph) -> None:
    """The simulated darklist is both the exposure's list and the model's training labels: the
    manifest says so, and the check that guards it passed; entity labels name the exchanges."""
    scores, manifest = read_current(_published(graph))
    declared = manifest["exposure"]
    assert declared["label_sources"] == ["mew_darklist"]
    assert declared["sources_also_training_labels"] == ["mew_darklist"]
    assert graph.checks["address_scores_exposure_sources"] is True
    listed = scores.filter(pl.col("label_hits").list.len() > 0)["label_hits"].to_list()
    assert listed and set(listed[0][0]) == {"source", "category", "name", "date"}
    snapshot = load_snapshot(_published(graph))
    kinds = {
        kind
        for address in snapshot.rows
        for entry in (snapshot.contexts.parts(address) or {})
        .get("counterparties", {})
        .get("by_count", [])
        for kind in entry["entity"]
    }
    assert "exchange" in kinds
