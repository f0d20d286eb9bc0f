"""What address_features decides around its SQL, as plain functions: the provenance it records,
the sources it refuses to mix, the usability verdict on the staged tables and the drift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from eth_assets.features.changed_addresses import STATE_READ_TABLE
from eth_assets.features.drift import MAJOR_SHIFT, feature_drift
from eth_assets.features.feature_provenance import (
    PROVENANCE_TABLE,
    Provenance,
    UniverseProvenance,
    read_provenance,
    record_usability,
)
from eth_assets.features.feature_tables import (
    ACTIVITY_TABLE,
    BEHAVIOUR_TABLE,
    feature_summary,
    store_kind,
)
from eth_assets.features.universe import UNIVERSE_TABLE
from eth_assets.labels.label_broadcast import TABLE as LABEL_BROADCAST_TABLE
from eth_assets.lake.provenance import SourceOfPart

# Every warehouse table address_features writes: replaced together, or dropped when a run does
# not write it (the BigQuery engine writes no behaviour features, a run without detection no
# label-broadcast table).
FEATURE_TABLES: tuple[str, ...] = (
    "address_features",
    BEHAVIOUR_TABLE,
    ACTIVITY_TABLE,
    LABEL_BROADCAST_TABLE,
    PROVENANCE_TABLE,
    STATE_READ_TABLE,
)
STAGING_CATALOG = "address_features_staging"


def staging_file(warehouse_file: Path) -> Path:
    """Where address_features writes its tables before the check: beside the warehouse; kept
    after a failed check to show what was refused."""
    return warehouse_file.with_name(f"{warehouse_file.stem}.address_features.staging.duckdb")


def usability_problem(active: int, rows: int, labelled: int, labels: int) -> str | None:
    """Why a feature table must not reach the models (None when it may). `labels` is the size
    of the label set when the universe was sampled (labelled addresses with history are always
    in it), else 0: an explicit address file may rightly hold no labelled address."""
    if rows and not active:
        return (
            f"all {rows} addresses have zero transactions and token transfers before as_of: the "
            "range holds no data for them. Check the raw partitions and as_of"
        )
    if labels and not labelled:
        return (
            f"the label set holds {labels} addresses, but none is in the universe: the labels "
            "and the chain data do not match (another source?). Materialize illicit_labels and "
            "address_universe for this source"
        )
    return None


@dataclass(frozen=True)
class Usability:
    """The blocking check's inputs and verdict on a feature table."""

    problem: str | None
    addresses_with_activity: int
    labelled_in_universe: int


def judge_features(
    con: duckdb.DuckDBPyConnection, current: pl.DataFrame, rows: int, labels: int
) -> Usability:
    """The usability check of the `current` address_features (numeric columns) beside the
    universe in `con`; `labels` as in `usability_problem`."""
    labelled = con.execute(
        f"SELECT count(*) FILTER (WHERE is_labelled_illicit) FROM {UNIVERSE_TABLE}"
    ).fetchall()[0][0]
    activity = [c for c in ("total_transactions", "total_erc20_tnxs") if c in current.columns]
    active = current.filter(pl.sum_horizontal(activity) > 0).height if activity else rows
    return Usability(usability_problem(active, rows, int(labelled), labels), active, int(labelled))


def numeric_features(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """The stored address_features without its address column; None when there is none."""
    if not con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'address_features' "
        "AND database_name = current_database()"
    ).fetchall()[0][0]:
        return None
    return con.sql("SELECT * EXCLUDE (address) FROM address_features").pl()


def universe_parts(
    con: duckdb.DuckDBPyConnection, raw: dict[str, SourceOfPart]
) -> tuple[dict[str, SourceOfPart], bool]:
    """The sources address_features combines (the stored universe's and `raw`, the lake's raw
    tables when they are read), and whether the universe was sampled."""
    universe = read_provenance(con, UniverseProvenance)
    parts: dict[str, SourceOfPart] = {
        "address_universe": universe.chain_source if universe else None,
        **raw,
    }
    return parts, bool(universe and universe.sampled)


@dataclass(frozen=True)
class StagedFeatures:
    """The staged tables' summary, their numeric columns and the usability verdict."""

    rows: int
    summary: pl.DataFrame
    current: pl.DataFrame
    usability: Usability


def judge_staged(con: duckdb.DuckDBPyConnection, rows: int, labels: int) -> StagedFeatures:
    """Judge the staged address_features and record the verdict in its provenance."""
    summary = feature_summary(con, "address_features")
    current = con.sql("SELECT * EXCLUDE (address) FROM address_features").pl()
    usability = judge_features(con, current, rows, labels)
    record_usability(con, usability.problem)
    return StagedFeatures(rows, summary, current, usability)


def drift_against(previous: pl.DataFrame | None, current: pl.DataFrame) -> pl.DataFrame | None:
    """Population stability per feature against the previous table; None without one."""
    return feature_drift(previous, current) if previous is not None else None


def major_shifts(drift: pl.DataFrame | None) -> pl.DataFrame:
    """The features whose PSI is above MAJOR_SHIFT."""
    if drift is None:
        return pl.DataFrame(schema={"feature": pl.Utf8, "psi": pl.Float64})
    return drift.filter(pl.col("psi") > MAJOR_SHIFT)


def provenance_of_run(
    as_of: datetime,
    engine: str,
    source: str,
    complete_histories: bool,
    market_gas: Path | None,
    lake: Path,
    excluded: tuple[str, ...],
    run_id: str,
) -> Provenance:
    """The provenance address_features records with its tables."""
    return Provenance(
        as_of=as_of,
        engine=engine,
        chain_source=source,
        complete_histories=complete_histories,
        store_kind=store_kind(complete_histories),
        market_gas_prices=str(market_gas) if market_gas else "the store's own days",
        lake=str(lake),
        excluded_tokens=excluded,
        dagster_run_id=run_id,
    )
