"""Scoring a full-chain store (the simulated chain) with a model trained on chosen accounts'
histories raises the WARN check address_scores_store_kind; the same kind passes."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from dagster import DagsterInstance, materialize

from eth_assets.features.feature_tables import CHOSEN_HISTORIES, FULL_CHAIN
from eth_assets.models.ml.classifier import load_illicit_model
from eth_assets.scores.score_assets import STORE_KIND_CHECK, address_scores
from eth_assets_tests.fixtures import Graph, resource_set


def test_the_graph_model_and_its_features_come_from_the_same_kind_of_store(graph: Graph) -> None:
    model = load_illicit_model(graph.folder / "models" / "illicit_classifier" / "model.pkl")
    assert model.store_kind == FULL_CHAIN
    assert graph.checks[STORE_KIND_CHECK] is True


def test_a_model_of_chosen_histories_scoring_the_full_chain_warns(
    graph: Graph, tmp_path: Path
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(graph.folder, folder)  # the session graph stays as it was
    path = folder / "models" / "illicit_classifier" / "model.pkl"
    dataclasses.replace(load_illicit_model(path), store_kind=CHOSEN_HISTORIES).save(path)
    result = materialize(
        [address_scores],
        resources=resource_set(folder, graph.resources["chain_source"]),
        instance=DagsterInstance.ephemeral(),
        run_config={"ops": {"address_scores": {"config": {"model": "local"}}}},
    )
    assert result.success  # a warning, not a refusal: the scores are published
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == STORE_KIND_CHECK]
    assert not check.passed
    assert check.severity.value == "WARN"
    metadata = {k: v.value for k, v in check.metadata.items()}
    assert metadata["model_store_kind"] == CHOSEN_HISTORIES
    assert metadata["data_store_kind"] == FULL_CHAIN
    assert "gas_price_vs_day" in metadata["feature_means"]
    assert "trained on a store of chosen histories and scores a store of full chain" in (
        check.description or ""
    )
