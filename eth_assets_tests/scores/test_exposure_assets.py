"""address_exposure in the graph, and address_scores' check that the snapshot states the label
lists its exposure was computed from, computed from the data rather than assumed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from eth_assets.features.feature_provenance import read_provenance
from eth_assets.features.feature_tables import FEATURE_COLUMNS
from eth_assets.models.ml.classifier import load_illicit_model
from eth_assets.scores import publication as publication_module
from eth_assets.scores.exposure import (
    COUNTERPARTIES_TABLE,
    EXPOSURE_PROVENANCE_TABLE,
    LISTED_TABLE,
    MONTHLY_TABLE,
)
from eth_assets.scores.score_assets import EXPOSURE_CHECK, address_scores
from eth_assets_tests.fixtures import Graph, resource_set


def test_address_exposure_ran_on_the_whole_simulated_chain(graph: Graph) -> None:
    with duckdb.connect(str(graph.folder / "warehouse.duckdb"), read_only=True) as con:
        provenance = dict(con.sql(f"SELECT * FROM {EXPOSURE_PROVENANCE_TABLE}").fetchall())
        universe = con.sql("SELECT count(*) FROM address_universe").fetchall()[0][0]
        in_counterparties = con.sql(
            f"SELECT count(DISTINCT address) FROM {COUNTERPARTIES_TABLE}"
        ).fetchall()[0][0]
        ring = con.sql(f"SELECT count(*) FROM {LISTED_TABLE} WHERE NOT in_universe").fetchall()
        months = con.sql(f"SELECT DISTINCT month FROM {MONTHLY_TABLE}").fetchall()
        features = read_provenance(con)
    assert provenance["complete_histories"] == "true" and provenance["indirect_note"] == ""
    assert features is not None
    assert provenance["as_of"] == features.as_of.isoformat()  # the features' cut-off
    assert json.loads(provenance["label_sources"]) == ["mew_darklist"]
    assert 0 < in_counterparties <= universe
    assert ring[0][0] > 0  # the held-out accounts and contracts the universe dealt with
    assert months == [("2021-01",)]
    model = load_illicit_model(graph.folder / "models" / "illicit_classifier" / "model.pkl")
    exposure_words = ("listed", "flagged", "exposure", "counterpart")
    assert not [f for f in model.features if any(w in f for w in exposure_words)]
    assert not [c for c in FEATURE_COLUMNS if any(w in c for w in exposure_words)]


def _scores_again(graph: Graph, folder: Path, fewer_labels: bool = False):
    """address_scores again over a copy of the session graph (which stays as it was), with one
    label entry fewer in the lake when `fewer_labels`."""
    shutil.copytree(graph.folder, folder)
    if fewer_labels:
        path = folder / "lake" / "illicit_labels.parquet"
        labels = pl.read_parquet(path)
        labels.head(labels.height - 1).write_parquet(path)
    return materialize(
        [address_scores],
        resources=resource_set(folder, graph.resources["chain_source"]),
        instance=DagsterInstance.ephemeral(),
        run_config={"ops": {"address_scores": {"config": {"model": "local"}}}},
    )


def _exposure_check(result):
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == EXPOSURE_CHECK]
    return check


def test_the_check_fails_when_the_overlap_is_not_declared(
    graph: Graph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare = publication_module.exposure_declaration

    def silent(*args, **kwargs) -> dict[str, object]:
        return {**declare(*args, **kwargs), "sources_also_training_labels": []}

    monkeypatch.setattr(publication_module, "exposure_declaration", silent)
    result = _scores_again(graph, tmp_path / "copy")
    assert result.success  # published, and the check says what is wrong with it
    check = _exposure_check(result)
    assert not check.passed
    assert "mew_darklist" in (check.description or "")
    assert "does not declare it" in (check.description or "")


def test_the_check_fails_when_the_lists_changed_after_address_exposure(
    graph: Graph, tmp_path: Path
) -> None:
    check = _exposure_check(_scores_again(graph, tmp_path / "copy", fewer_labels=True))
    assert not check.passed and "materialize address_exposure" in (check.description or "")
