"""The on-demand evaluations over the session's simulated graph: the champion scores the real
phish_2022 folder with no retraining (out_of_time_evaluation), and xblock_2019's era-matched
evaluation runs within the set and with this graph's model; both tracked in MLflow with stable
metric names and shown beside the date-only and size-only baselines."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
from dagster import materialize
from mlflow.tracking import MlflowClient

from eth_assets.models.evaluation_assets import (
    OUT_OF_TIME_CHECK,
    era_matched_evaluation,
    out_of_time_evaluation,
)
from eth_assets_tests.fixtures import Graph


def _last_run(graph: Graph, asset: str):
    client = MlflowClient(tracking_uri=graph.tracker.resolved_uri())
    experiment = client.get_experiment_by_name(f"eth_assets/{asset}")
    assert experiment is not None, f"no MLflow experiment for {asset}"
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])[
        0
    ]


def test_out_of_time_evaluation_scores_phish_2022_with_no_retraining(
    graph_copy: Graph, shared_data: Path
) -> None:
    result = materialize(
        [out_of_time_evaluation],
        resources=graph_copy.resources,
        instance=graph_copy.instance,
        run_config={
            "ops": {
                "out_of_time_evaluation": {"config": {"folder": str(shared_data / "phish_2022")}}
            }
        },
    )
    assert result.success
    run = _last_run(graph_copy, "out_of_time_evaluation")
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    # 1,500 normal and 1,500 phish-hack accounts, 259 of the latter without any transaction
    assert metrics["oot_all_normal"] == 1500 and metrics["oot_all_illicit"] == 1500
    assert metrics["oot_active_illicit"] < 1500
    for subset in ("all", "active", "common_window"):
        for scorer in ("model", "date_only", "size_only"):
            value = metrics[f"oot_{subset}_{scorer}_roc_auc"]
            assert 0.0 <= value <= 1.0, (subset, scorer, value)
    assert run.data.params["model_version"]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert OUT_OF_TIME_CHECK in checks  # a WARN check: passes or warns, never blocks
    with duckdb.connect(str(graph_copy.folder / "warehouse.duckdb"), read_only=True) as con:
        subsets = {
            r[0] for r in con.execute("SELECT accounts FROM out_of_time_evaluation").fetchall()
        }
    assert subsets == {"all", "active", "common_window"}


def test_era_matched_evaluation_on_xblock(graph_copy: Graph, shared_data: Path) -> None:
    result = materialize(
        [era_matched_evaluation],
        resources=graph_copy.resources,
        instance=graph_copy.instance,
        run_config={
            "ops": {
                "era_matched_evaluation": {
                    "config": {"folder": str(shared_data / "xblock_2019"), "folds": 3}
                }
            }
        },
    )
    assert result.success
    run = _last_run(graph_copy, "era_matched_evaluation")
    metrics = run.data.metrics
    assert metrics["within_normal"] == 1300 and metrics["within_illicit"] == 1405
    # the accounts of xblock_2019 that are not in raw_txns: 1,299 normal, 457 phishing
    assert metrics["outside_normal"] == 1299 and metrics["outside_illicit"] == 457
    # within the set, the classes overlap in time: the date alone is far from perfect
    assert metrics["within_all_date_only_roc_auc"] < 0.9
    assert metrics["within_all_model_roc_auc"] > metrics["within_all_date_only_roc_auc"]
    assert metrics["within_era_matched_normal"] >= 30
    assert not math.isnan(metrics["within_era_matched_model_roc_auc"])
    # features the set cannot support are named and left out, never silently zero
    assert "gas_price_vs_day" in run.data.params["left_out"]
    assert "gas_price_vs_day" not in run.data.params["features"].split(",")
