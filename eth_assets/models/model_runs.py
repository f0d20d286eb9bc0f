"""What every model asset does the same way: check its config before any work, read a frame
from the warehouse, and finish (`finish`): replace its tables in one transaction, log one MLflow
run, keep the model file only a passed gate may replace, and show tables, plots and the run in
the Dagster UI."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
)
from pydantic import ValidationInfo, field_validator

from eth_assets.common.duckdb_utils import transaction
from eth_assets.features.feature_tables import BEHAVIOUR_TABLE
from eth_assets.features.universe import UNIVERSE_TABLE
from eth_assets.models.champion import GATE_METRIC, GateDecision
from eth_assets.models.dataset_results import FIT_TABLE
from eth_assets.models.dataset_rules import with_flags
from eth_assets.models.model_result import (
    CANDIDATE_FILE,
    MODEL_FILE,
    REJECTED_FOLDER,
    Check,
    ModelFile,
    ModelResult,
)
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.tracking import MlflowTracker, TrackedRun
from eth_assets.resources.warehouse import DuckDBWarehouse

__all__ = [
    "CANDIDATE_FILE",
    "FIT_TABLE",
    "MODEL_FILE",
    "REJECTED_FOLDER",
    "Check",
    "ModelFile",
    "ModelResult",
    "finish",
]


# Config checks, run when Dagster builds an asset's config: before the asset reads or trains.


def at_least(least: float, *fields: str) -> Any:
    """A pydantic validator for a Config class: each of `fields` is at least `least`."""

    def check(cls: type, value: float, info: ValidationInfo) -> float:
        if value < least:
            raise ValueError(f"{info.field_name}={value!r}: must be at least {least:g}")
        return value

    return field_validator(*fields)(check)


def fraction(*fields: str, low_open: bool = True, high_open: bool = True) -> Any:
    """A pydantic validator for a Config class: each of `fields` lies between 0 and 1 (ends
    excluded unless said otherwise)."""

    def check(cls: type, value: float, info: ValidationInfo) -> float:
        above = value > 0 if low_open else value >= 0
        below = value < 1 if high_open else value <= 1
        if not (above and below):
            bounds = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
            raise ValueError(f"{info.field_name}={value!r}: must lie in {bounds}")
        return value

    return field_validator(*fields)(check)


def fold_counts(*fields: str) -> Any:
    """A pydantic validator for a Config class: each of `fields` is a non-empty list of
    distinct fold counts k ≥ 2."""

    def check(cls: type, value: list[int], info: ValidationInfo) -> list[int]:
        allowed = "one or more distinct whole numbers of folds k ≥ 2, e.g. [3, 4, 5, 10]"
        if not value or any(k < 2 for k in value) or len(set(value)) != len(value):
            raise ValueError(f"{info.field_name}={value!r}: must be {allowed}")
        return value

    return field_validator(*fields)(check)


def keep_model_file(candidate: Path, passed: bool, version: int) -> Path:
    """Move a new model file out of its candidate name after the gate: over the folder's
    `model.pkl` (what `model: local` scores with) only if it passed, else to
    `rejected/model-v<version>.pkl` (the earlier rejected files removed); where it went."""
    folder = candidate.parent
    if passed:
        target = folder / MODEL_FILE
    else:
        rejected = folder / REJECTED_FOLDER
        rejected.mkdir(parents=True, exist_ok=True)
        for older in rejected.glob("model-v*.pkl"):
            older.unlink()
        target = rejected / f"model-v{version}.pkl"
    os.replace(candidate, target)
    return target


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the warehouse has `table`."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchall()[0][0]
    return bool(found)


def read_table(con: duckdb.DuckDBPyConnection, table: str, producer: str) -> pl.DataFrame:
    """A whole warehouse table as Polars; a clear error when it was never materialized."""
    if not table_exists(con, table):
        raise LookupError(
            f"the warehouse has no table {table!r}: materialize {producer} first "
            f"(e.g. dagster asset materialize -m eth_assets.definitions --select {producer})"
        )
    return con.sql(f"SELECT * FROM {table}").pl()


def replace_tables(con: duckdb.DuckDBPyConnection, tables: Mapping[str, pl.DataFrame]) -> None:
    """CREATE OR REPLACE every table from its frame in one transaction: all or nothing."""
    with transaction(con):
        for name, frame in tables.items():
            con.register("frame_to_store", frame.to_arrow())
            con.execute(
                f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM frame_to_store"
            ).fetchall()
            con.unregister("frame_to_store")


def read_flagged_features(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """address_features with behaviour_features (when stored), `has_activity` and
    `is_labelled_illicit`: the rows every model reads before its own cleaning."""
    features = read_table(con, "address_features", "address_features")
    universe = read_table(con, UNIVERSE_TABLE, "address_universe")
    behaviour = (
        read_table(con, BEHAVIOUR_TABLE, "address_features")
        if table_exists(con, BEHAVIOUR_TABLE)
        else None
    )
    return with_flags(features, universe, behaviour)


def read_fit(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The stored fitted cleaning with the as_of and source of the features it was fitted on."""
    fit = read_table(con, FIT_TABLE, "clean_features")
    return {k: str(v) for k, v in fit.row(0, named=True).items()}


def run_tags(
    context: AssetExecutionContext, as_of: str | datetime, source: ChainSource | str
) -> dict[str, str]:
    """The MLflow tags that tie a model run to the Dagster run and the data it saw."""
    return {
        "dagster.run_id": context.run_id,
        "dagster.asset_key": context.asset_key.to_user_string(),
        "dagster.partition": context.partition_key if context.has_partition_key else "",
        "as_of": as_of.isoformat() if isinstance(as_of, datetime) else as_of,
        "chain_source": source.describe() if isinstance(source, ChainSource) else source,
    }


def image_markdown(name: str, path: Path) -> MetadataValue:
    """A PNG shown inline in the Dagster UI (it has no image metadata type)."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return MetadataValue.md(f"![{name}](data:image/png;base64,{encoded})")


def plot_metadata(plots: Mapping[str, Path]) -> dict[str, MetadataValue]:
    """Each plot inline and as a file path."""
    metadata: dict[str, MetadataValue] = {}
    for name, path in plots.items():
        metadata[f"plot_{name}"] = image_markdown(name, path)
        metadata[f"plot_{name}_path"] = MetadataValue.path(str(path))
    return metadata


def mlflow_metadata(run: TrackedRun) -> dict[str, MetadataValue]:
    """The MLflow run id and a link to it in the MLflow UI."""
    return {
        "mlflow_run_id": MetadataValue.text(run.run_id),
        "mlflow_run": MetadataValue.url(run.url),
    }


def finish(
    context: AssetExecutionContext,
    result: ModelResult,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker | None = None,
) -> MaterializeResult:
    """The one finishing step of a model asset: replace `result.tables` in one transaction, log
    one MLflow run (params, metrics, plots, artifacts, model; none when `result.experiment` is
    empty), apply the champion gate to a candidate model, and return the materialization with
    its metadata (tables, plots, the run link, row count) and check results."""
    if result.tables:
        with warehouse.connect() as con:
            replace_tables(con, result.tables)
    metadata: dict[str, Any] = {}
    if result.row_count is not None:
        metadata["dagster/row_count"] = result.row_count
    metadata |= dict(result.metadata)
    metadata |= {name: MetadataValue.md(text) for name, text in result.markdown.items()}
    metadata |= {name: MetadataValue.path(str(path)) for name, path in result.paths.items()}
    checks = [check_result(check) for check in result.checks]
    if result.experiment:
        if tracker is None:
            raise ValueError(f"{result.experiment} tracks an MLflow run: pass the tracker")
        model_metadata, gate_checks = log_run(context, result, tracker)
        metadata |= model_metadata
        checks += gate_checks
    metadata |= plot_metadata(result.plots)
    return MaterializeResult(metadata=metadata, check_results=checks or None)


def check_result(check: Check) -> AssetCheckResult:
    """A check outcome as Dagster's result: a failure warns when `warn`, else errs."""
    severity = AssetCheckSeverity.WARN if check.warn else AssetCheckSeverity.ERROR
    return AssetCheckResult(
        check_name=check.name,
        passed=check.passed,
        severity=severity,
        description=check.description,
        metadata=dict(check.metadata),
    )


def log_run(
    context: AssetExecutionContext, result: ModelResult, tracker: MlflowTracker
) -> tuple[dict[str, Any], list[AssetCheckResult]]:
    """One MLflow run of `result`; the metadata of its model and run, and the gate's check.
    A candidate model is gated before the run opens (a store that cannot answer fails before
    anything is logged) and the alias moves only after the run ended FINISHED."""
    model = result.model
    gate = None
    if model is not None and model.champion_floor is not None:
        score = result.metrics[GATE_METRIC]
        gate = tracker.champion_gate(model.registered_name, score, model.champion_floor)
    tags = run_tags(context, result.as_of, result.source) | dict(result.tags)
    version = 0
    with tracker.start_run(result.experiment, result.run_name, tags) as run:
        run.log_params(result.params)
        run.log_metrics(result.metrics)
        for step, metrics in result.steps:
            run.log_metrics(metrics, step=step)
        for path in result.plots.values():
            run.log_artifact(path, "plots")
        for folder, paths in result.artifacts.items():
            for path in paths:
                run.log_artifact(path, folder)
        if model is not None and model.registered_name:
            version = tracker.log_model(run, model.path, model.registered_name)
            if gate is not None:
                decision = gate.decision(version)
                run.set_tags({"champion_decision": decision, "registered_version": version})
        elif model is not None:
            run.log_artifact(model.path, "model")
    metadata: dict[str, Any] = {}
    checks = []
    if model is not None:
        metadata["model"] = MetadataValue.path(str(model.path))
    if model is not None and model.registered_name:
        metadata["registered_version"] = version
    if model is not None and gate is not None:
        tracker.promote(model.registered_name, version, gate)
        metadata |= keep_candidate(model.path, gate, version)
        checks.append(gate_check(model.gate_check, gate, version))
    return metadata | mlflow_metadata(run), checks


def keep_candidate(candidate: Path, gate: GateDecision, version: int) -> dict[str, Any]:
    """Move the candidate file where the gate says (keep_model_file); the metadata saying so."""
    kept = keep_model_file(candidate, gate.passed, version)
    where = (
        f"{kept.name} replaces the local model (model: local)"
        if gate.passed
        else f"kept as {kept.relative_to(candidate.parent)}: the local model.pkl is unchanged"
    )
    return {
        "champion_decision": gate.decision(version),
        "model": MetadataValue.path(str(kept)),
        "model_file": MetadataValue.text(where),
    }


def gate_check(name: str, gate: GateDecision, version: int) -> AssetCheckResult:
    """The champion gate as the result of the blocking check `name`."""
    champion = gate.champion_auc if gate.champion_auc is not None else -1.0
    return AssetCheckResult(
        check_name=name,
        passed=gate.passed,
        metadata={
            "cv_roc_auc": gate.score,
            "champion_cv_roc_auc": champion,
            "floor": gate.floor,
            "decision": gate.decision(version),
        },
    )
