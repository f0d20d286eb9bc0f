"""What every model asset does the same way: read a frame from the warehouse, replace tables in
one transaction, tag its MLflow run, and show plots and the run in the Dagster UI."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
from dagster import AssetExecutionContext, MetadataValue

from eth_assets.datasets import with_flags
from eth_assets.duckdb_utils import transaction
from eth_assets.features import BEHAVIOUR_TABLE
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.tracking import TrackedRun
from eth_assets.universe import UNIVERSE_TABLE

FIT_TABLE = "clean_features_fit"


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
