"""The finishing step of the model assets: tables replaced, one MLflow run logged, the champion
gate applied to a candidate model, and what the Dagster UI shows."""

import pickle

import polars as pl
from dagster import (
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    asset,
    materialize,
)

from eth_assets.models.model_runs import Check, ModelFile, ModelResult, finish
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.tracking import CHAMPION, MlflowTracker
from eth_assets.resources.warehouse import DuckDBWarehouse

REGISTERED = "eth_assets.toy_model"


class ToyConfig(Config):
    score: float = 0.9


@asset(
    check_specs=[
        AssetCheckSpec("toy_check", asset="toy_model"),
        AssetCheckSpec("toy_gate", asset="toy_model"),
    ]
)
def toy_model(
    context: AssetExecutionContext,
    config: ToyConfig,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker,
    models: ModelStore,
) -> MaterializeResult:
    """A model asset that only finishes: a table, a run, a plot, a candidate model."""
    folder = models.folder("toy_model")
    plot = folder / "toy.png"
    plot.write_bytes(b"\x89PNG not really")
    table = folder / "toy.csv"
    table.write_text("a\n1\n")
    candidate = folder / "model.candidate.pkl"
    candidate.write_bytes(pickle.dumps({"score": config.score}))
    result = ModelResult(
        experiment="toy_model",
        run_name="toy",
        as_of="2019-01-01",
        source="toy source",
        tables={"toy_table": pl.DataFrame({"a": [1, 2]})},
        params={"k": 3},
        metrics={"cv_roc_auc": config.score, "undefined": float("nan")},
        steps=[(0, {"fold_auc": 0.5}), (1, {"fold_auc": 0.75})],
        plots={"toy": plot},
        artifacts={"tables": [table]},
        model=ModelFile(candidate, REGISTERED, champion_floor=0.8, gate_check="toy_gate"),
        row_count=2,
        metadata={"rule": "highest score"},
        markdown={"summary": "| a |\n|---|\n| 1 |"},
        checks=[Check("toy_check", False, {"missing": 1}, warn=True)],
    )
    return finish(context, result, warehouse, tracker)


def _run(resources: dict[str, object], score: float) -> object:
    config = {"ops": {"toy_model": {"config": {"score": score}}}}
    return materialize([toy_model], resources=resources, run_config=config)


def test_finish_stores_the_tables_logs_one_run_and_shows_it(
    resources: dict[str, object],
) -> None:
    done = _run(resources, 0.9)
    metadata = done.asset_materializations_for_node("toy_model")[0].metadata
    with resources["warehouse"].connect(read_only=True) as con:
        assert con.sql("SELECT a FROM toy_table ORDER BY a").fetchall() == [(1,), (2,)]
    assert metadata["dagster/row_count"].value == 2
    assert metadata["rule"].value == "highest score"
    assert metadata["summary"].value.startswith("| a |")
    assert metadata["plot_toy"].value.startswith("![toy](data:image/png;base64,")
    assert metadata["plot_toy_path"].value.endswith("toy.png")
    assert metadata["registered_version"].value == 1
    tracker = resources["tracker"]
    client = tracker.client()
    run = client.get_run(metadata["mlflow_run_id"].value)
    assert run.info.status == "FINISHED"
    assert run.data.params["k"] == "3"
    assert run.data.metrics["cv_roc_auc"] == 0.9
    assert "undefined" not in run.data.metrics
    assert [m.value for m in client.get_metric_history(run.info.run_id, "fold_auc")] == [0.5, 0.75]
    assert run.data.tags["as_of"] == "2019-01-01"
    assert run.data.tags["chain_source"] == "toy source"
    assert run.data.tags["champion_decision"] == "version 1 becomes champion"
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    logged |= {a.path for a in client.list_artifacts(run.info.run_id, "tables")}
    assert logged == {"plots/toy.png", "tables/toy.csv"}
    checks = {c.check_name: c for c in done.get_asset_check_evaluations()}
    assert checks["toy_check"].passed is False
    assert checks["toy_check"].severity == AssetCheckSeverity.WARN
    assert checks["toy_gate"].passed is True


def test_the_gate_keeps_a_better_candidate_and_rejects_a_worse_one(
    resources: dict[str, object],
) -> None:
    _run(resources, 0.9)
    folder = resources["models"].folder("toy_model")
    assert pickle.loads((folder / "model.pkl").read_bytes()) == {"score": 0.9}
    done = _run(resources, 0.85)
    metadata = done.asset_materializations_for_node("toy_model")[0].metadata
    gate = {c.check_name: c for c in done.get_asset_check_evaluations()}["toy_gate"]
    assert gate.passed is False
    assert gate.metadata["champion_cv_roc_auc"].value == 0.9
    assert gate.metadata["decision"].value == (
        "version 2 stays a candidate: CV ROC-AUC 0.8500 below the champion's 0.9000 (version 1)"
    )
    assert pickle.loads((folder / "model.pkl").read_bytes()) == {"score": 0.9}
    assert pickle.loads((folder / "rejected" / "model-v2.pkl").read_bytes()) == {"score": 0.85}
    assert not (folder / "model.candidate.pkl").exists()
    assert metadata["model_file"].value == (
        "kept as rejected/model-v2.pkl: the local model.pkl is unchanged"
    )
    assert resources["tracker"].version(REGISTERED, CHAMPION).version == 1
