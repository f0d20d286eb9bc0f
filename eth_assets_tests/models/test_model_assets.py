"""The model half of the graph on a small simulated chain: clean_features → elbow_analysis,
tsne_embedding, investor_profiles, each run tracked in MLflow and shown in the Dagster UI.

The graph is materialized once per module (raw → features → models), then investor_profiles a
second time, in one Dagster instance; the tests read what those runs left behind. One simulated
account in ten is left out of the universe: the lake holds its whole history, but no score, which
is what the address page scores on the fly.
"""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
import requests
from dagster import AssetKey, DagsterInstance, materialize
from mlflow.tracking import MlflowClient

from eth_assets.models.classifier_assets import (
    REGISTERED_MODEL,
    illicit_classifier,
    model_comparison,
    training_set,
)
from eth_assets.models.illicit_type_assets import illicit_type_model
from eth_assets.models.ml.cleaning import load_cleaning
from eth_assets.models.ml.profiles import load_profile_model
from eth_assets.resources.simulated_source import SimulatedChainSource
from eth_assets.scores.score_assets import address_scores
from eth_assets.scores.snapshot import read_current
from eth_assets_tests.fixtures import GRAPH_RANGE as RANGE
from eth_assets_tests.fixtures import Graph, graph_assets, resource_set

PNG_INLINE = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)\)")
SMALL_CLASSIFIER = {"illicit_classifier": {"config": {"paper_table_folds": [3]}}}


def _runs(graph: Graph, asset: str) -> list:
    client = MlflowClient(tracking_uri=graph.tracker.resolved_uri())
    experiment = client.get_experiment_by_name(f"eth_assets/{asset}")
    assert experiment is not None, f"no MLflow experiment for {asset}"
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def test_two_materializations_give_two_finished_runs_with_the_same_metrics(graph: Graph) -> None:
    runs = _runs(graph, "investor_profiles")
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    first, second = (set(r.data.metrics) for r in runs)
    assert first == second
    assert {"silhouette", "silhouette_with_inactive", "k"} <= first
    assert any(key.startswith("silhouette_app_kmeans_k") for key in first)
    for run in runs:
        tags = run.data.tags
        assert tags["dagster.asset_key"] == "investor_profiles"
        assert tags["as_of"] == "2021-01-21T00:00:00+00:00"
        assert tags["chain_source"].startswith("simulated")
        assert tags["git_commit"]
        assert run.data.params["use_feature_set"] == "behaviour"
    assert runs[0].data.tags["dagster.run_id"] != runs[1].data.tags["dagster.run_id"]
    artifacts = {
        a.path
        for a in MlflowClient(graph.tracker.resolved_uri()).list_artifacts(
            runs[1].info.run_id, "plots"
        )
    }
    assert {"plots/silhouette.png", "plots/sizes.png", "plots/profiles_2d.png"} <= artifacts


def test_every_model_asset_has_its_own_experiment(graph: Graph) -> None:
    for asset in ("elbow_analysis", "tsne_embedding"):
        runs = _runs(graph, asset)
        assert [r.info.status for r in runs] == ["FINISHED"]


def _latest_metadata(graph: Graph, asset: str) -> dict:
    event = graph.instance.get_latest_materialization_event(AssetKey(asset))
    assert event is not None and event.asset_materialization is not None
    return event.asset_materialization.metadata


@pytest.mark.parametrize(
    ("asset", "plot"), [("tsne_embedding", "plot_tsne"), ("investor_profiles", "plot_sizes")]
)
def test_latest_materialization_shows_a_png_and_links_its_run(
    graph: Graph, asset: str, plot: str
) -> None:
    metadata = _latest_metadata(graph, asset)
    match = PNG_INLINE.search(metadata[plot].value)
    assert match, f"{plot} of {asset} holds no inline PNG"
    assert base64.b64decode(match.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(metadata[f"{plot}_path"].value).is_file()
    run_id = metadata["mlflow_run_id"].value
    assert metadata["mlflow_run"].value.startswith("http://mlflow.example:5000/#/experiments/")
    assert metadata["mlflow_run"].value.endswith(f"/runs/{run_id}")


def test_headline_metrics_are_floats_for_the_plots_tab(graph: Graph) -> None:
    metadata = _latest_metadata(graph, "investor_profiles")
    for key in ("silhouette", "silhouette_with_inactive", "k"):
        assert isinstance(metadata[key].value, float)


def test_tables_cleaning_and_saved_model_agree(graph: Graph) -> None:
    con = duckdb.connect(str(graph.folder / "warehouse.duckdb"), read_only=True)
    try:
        columns = [r[0] for r in con.execute("DESCRIBE clean_features").fetchall()]
        accounts = con.execute("SELECT count(*) FROM address_features").fetchall()[0][0]
        cleaned = con.execute("SELECT count(*) FROM clean_features").fetchall()[0][0]
        assigned = con.sql("SELECT * FROM investor_profile_assignments ORDER BY address").pl()
        features = con.sql(
            "SELECT f.*, c.has_activity FROM address_features f "
            "JOIN clean_features c USING (address) ORDER BY address"
        ).pl()
        sizes = con.execute("SELECT sum(addresses) FROM investor_profiles").fetchall()[0][0]
    finally:
        con.close()
    cleaning = load_cleaning(graph.folder / "models" / "clean_features" / "cleaning.json")
    assert columns[:3] == ["address", "is_labelled_illicit", "has_activity"]
    assert columns[3:] == list(cleaning.features)
    assert cleaned == accounts == 450 and sizes == 450
    model = load_profile_model(graph.folder / "models" / "investor_profiles" / "model.pkl")
    inputs = cleaning.impute(features, model.source_columns)
    again = model.assign(inputs, features["has_activity"].to_numpy())
    assert again["profile_id"].to_list() == assigned["profile_id"].to_list()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.e2e
def test_mlflow_server_lists_both_runs_for_comparison(graph: Graph) -> None:
    """The real MLflow server on this store answers the search its compare page makes."""
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            graph.tracker.resolved_uri(),
            "--default-artifact-root",
            str(graph.folder / "mlflow" / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                error = server.stderr.read().decode() if server.stderr else ""
                pytest.fail(f"mlflow server did not start on port {port}: {error[-2000:]}")
            time.sleep(0.5)
        experiment = requests.get(
            f"{base}/api/2.0/mlflow/experiments/get-by-name",
            params={"experiment_name": "eth_assets/investor_profiles"},
            timeout=10,
        ).json()["experiment"]
        found = requests.post(
            f"{base}/api/2.0/mlflow/runs/search",
            json={"experiment_ids": [experiment["experiment_id"]], "max_results": 10},
            timeout=10,
        ).json()["runs"]
        assert len(found) == 2
        assert {r["info"]["status"] for r in found} == {"FINISHED"}
        keys = [{m["key"] for m in r["data"]["metrics"]} for r in found]
        assert keys[0] == keys[1] and "silhouette" in keys[0]
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def test_model_checks_ran_and_passed(graph: Graph) -> None:
    assert graph.checks["clean_features_complete"] is True
    assert graph.checks["investor_profiles_cover_every_address"] is True


def test_classifier_is_registered_as_champion_and_scores_are_published(graph: Graph) -> None:
    client = MlflowClient(tracking_uri=graph.tracker.resolved_uri())
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, "champion")
    assert int(champion.version) == 1
    assert graph.checks["illicit_classifier_champion_gate"] is True
    run = client.get_run(champion.run_id)
    assert {"cv_accuracy", "cv_roc_auc", "cv_f1", "cv_precision", "cv_recall"} <= set(
        run.data.metrics
    )
    assert {"cv_roc_auc_sd", "brier_after_calibration", "cv3_roc_auc"} <= set(run.data.metrics)
    plots = {a.path for a in client.list_artifacts(champion.run_id, "plots")}
    assert {"plots/shap_summary.png", "plots/logloss.png", "plots/reliability.png"} <= plots
    metadata = _latest_metadata(graph, "illicit_classifier")
    for plot in ("plot_shap_summary", "plot_logloss", "plot_reliability"):
        assert PNG_INLINE.search(metadata[plot].value), plot
    assert (
        "CatBoost + investor profile"
        in _latest_metadata(graph, "model_comparison")["comparison"].value
    )
    scores, manifest = read_current(graph.folder / "published" / "address_scores")
    assert manifest["model"] == f"{REGISTERED_MODEL} v1"
    assert scores.height == 450 and scores["address"].n_unique() == 450
    inactive = scores.filter(~pl.col("has_activity"))
    assert set(inactive["band"]) <= {"no activity"}
    assert inactive["probability"].null_count() == inactive.height
    active = scores.filter(pl.col("has_activity"))
    assert set(active["band"]) <= {"low", "medium", "high", "critical"}
    assert active["probability"].is_between(0, 1).all()
    flagged = active.filter(pl.col("is_flagged"))
    assert flagged.height > 0 and all(len(r) >= 1 for r in flagged["reasons"].to_list())


def test_the_type_model_is_tracked_and_names_the_type_of_flagged_addresses(graph: Graph) -> None:
    runs = _runs(graph, "illicit_type_model")
    assert [r.info.status for r in runs] == ["FINISHED"]
    metadata = _latest_metadata(graph, "illicit_type_model")
    learned = runs[0].data.params["types"].split(",")
    assert len(learned) >= 2, metadata["no_model"].value
    metrics = runs[0].data.metrics
    assert {"type_macro_f1", "type_accuracy", "type_majority_accuracy"} <= set(metrics)
    assert {f"type_{t}_{m}" for t in learned for m in ("precision", "recall")} <= set(metrics)
    assert metrics["type_macro_f1"] > metrics["type_majority_macro_f1"]
    assert PNG_INLINE.search(metadata["plot_confusion"].value)
    artifacts = MlflowClient(graph.tracker.resolved_uri()).list_artifacts(runs[0].info.run_id)
    assert {"plots", "tables", "model"} <= {a.path for a in artifacts}
    with duckdb.connect(str(graph.folder / "warehouse.duckdb"), read_only=True) as con:
        per_type = con.sql("SELECT * FROM illicit_type_metrics").pl()
        confusion = con.sql("SELECT * FROM illicit_type_confusion").pl()
    assert per_type.filter(pl.col("learned"))["type"].to_list() == learned
    assert confusion["true_type"].to_list() == learned
    too_small = per_type.filter(~pl.col("learned"))
    assert (too_small["examples"] < 10).all() and too_small["recall"].null_count() == len(too_small)
    scores, _ = read_current(graph.folder / "published" / "address_scores")
    flagged = scores.filter(pl.col("is_flagged"))
    assert set(flagged["illicit_type"]) <= set(learned)
    assert flagged["illicit_type_probability"].is_between(1 / len(learned), 1).all()
    others = scores.filter(~pl.col("is_flagged"))
    assert others["illicit_type"].null_count() == others.height
    assert others["illicit_type_probability"].null_count() == others.height


def test_champion_scores_another_chain_without_retraining(
    graph_copy: Graph, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second data dir with another simulated chain, scored by the shared registry's
    champion: no training asset runs."""
    folder = tmp_path_factory.mktemp("other")
    source = SimulatedChainSource(
        seed=7, n_accounts=300, start_date="2021-01-01", days=20, work_dir=str(folder / "sim")
    )
    resources = resource_set(folder, source, tracker=graph_copy.tracker)
    training = (training_set, illicit_classifier, illicit_type_model, model_comparison)
    selection = [a for a in graph_assets() if a not in training]
    result = materialize(
        selection,
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        tags=RANGE,
        run_config={"ops": {"investor_profiles": {"config": {"k_max": 5}}}},
    )
    assert result.success
    scores, manifest = read_current(folder / "published" / "address_scores")
    assert manifest["model"] == f"{REGISTERED_MODEL} v1"
    assert scores.height == 300
    assert scores["chain_source"][0].startswith("simulated:seed=7")
    assert scores["model_chain_source"][0].startswith("simulated:seed=42")
    assert scores["illicit_type"].null_count() == 300  # no type model in this data dir


def test_a_worse_candidate_does_not_take_the_champion_alias(graph_copy: Graph) -> None:
    """With a champion whose CV ROC-AUC no model reaches, the new version stays a candidate and
    the blocking check stops the run before the scores."""
    client = MlflowClient(tracking_uri=graph_copy.tracker.resolved_uri())
    current = client.get_model_version_by_alias(REGISTERED_MODEL, "champion")
    experiment = client.get_experiment_by_name("eth_assets/illicit_classifier")
    strong = client.create_run(experiment.experiment_id, run_name="a very strong champion")
    client.log_metric(strong.info.run_id, "cv_roc_auc", 0.9999)
    client.set_terminated(strong.info.run_id)
    version = client.create_model_version(REGISTERED_MODEL, current.source, strong.info.run_id)
    client.set_registered_model_alias(REGISTERED_MODEL, "champion", version.version)
    local = graph_copy.folder / "models" / "illicit_classifier" / "model.pkl"
    served_locally = local.read_bytes()
    result = materialize(
        [illicit_classifier, address_scores],
        resources=graph_copy.resources,
        instance=graph_copy.instance,
        run_config={"ops": SMALL_CLASSIFIER},
        raise_on_error=False,
    )
    assert not result.success
    gate = [e for e in result.get_asset_check_evaluations() if e.check_name.endswith("gate")]
    assert [e.passed for e in gate] == [False]
    assert client.get_model_version_by_alias(REGISTERED_MODEL, "champion").version == (
        version.version
    )
    latest = client.search_model_versions(f"name = '{REGISTERED_MODEL}'")
    newest = max(latest, key=lambda v: int(v.version))
    assert int(newest.version) == int(version.version) + 1
    decision = client.get_run(newest.run_id).data.tags["champion_decision"]
    assert "stays a candidate" in decision
    assert local.read_bytes() == served_locally  # `model: local` still serves the champion
    assert (local.parent / "rejected" / f"model-v{newest.version}.pkl").is_file()
