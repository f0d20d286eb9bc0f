"""The address universe: which addresses get features.

Features are valid only for addresses whose whole history is in the store, so the universe is
either an explicit address file (e.g. the accounts whose full histories were exported) or every
labelled address with history plus a deterministic sample of active addresses.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from eth_assets.common.addresses import address_problem
from eth_assets.common.sql_files import load_sql

UNIVERSE_TABLE = "address_universe"
MAX_BAD_VALUES_SHOWN = 5


def read_address_file(path: Path, flag_column: str | None = None) -> pl.DataFrame:
    """Addresses from a CSV or Parquet file with an `address` column, lower-cased and unique.

    When `flag_column` names a boolean column of the file, only rows where it is true are kept.
    Invalid addresses stop the read with an error quoting them.
    """
    if not path.is_file():
        raise FileNotFoundError(f"address file {str(path)!r} does not exist")
    frame = (
        pl.read_parquet(path)
        if path.suffix == ".parquet"
        else pl.read_csv(path, infer_schema_length=0)
    )
    columns = {c.lower(): c for c in frame.columns}
    if "address" not in columns:
        raise ValueError(f"address file {str(path)!r} has no `address` column: {frame.columns}")
    if flag_column and flag_column in frame.columns:
        flags = frame[flag_column].cast(pl.Utf8).str.to_lowercase()
        frame = frame.filter(flags.is_in(["true", "1", "t", "yes"]))
    values = frame[columns["address"]].cast(pl.Utf8).to_list()
    bad = [(v, problem) for v in values if (problem := address_problem(v))]
    if bad:
        shown = "; ".join(f"{v!r}: {p}" for v, p in bad[:MAX_BAD_VALUES_SHOWN])
        raise ValueError(f"address file {str(path)!r} has {len(bad)} invalid addresses: {shown}")
    addresses = sorted({v.strip().lower() for v in values})
    return pl.DataFrame(
        {"address": addresses, "inclusion_reason": ["address_file"] * len(addresses)}
    )


def sample_universe(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    sample_size: int,
    min_transactions: int,
    seed: str,
) -> pl.DataFrame:
    """Labelled addresses with history plus a deterministic sample of active ones.

    Needs relations `transactions` and `labels(address)` in `con`.
    """
    query = load_sql("address_universe_sample")
    params = {
        "as_of": as_of,
        "min_transactions": min_transactions,
        "sample_size": sample_size,
        "seed": seed,
    }
    return con.sql(query, params=params).pl().sort("address")


def universe_addresses(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The stored universe's addresses, in table order."""
    return [r[0] for r in con.execute(f"SELECT address FROM {UNIVERSE_TABLE}").fetchall()]


def require_universe(con: duckdb.DuckDBPyConnection) -> None:
    """A clear error when the universe was never stored in this warehouse (address_features
    materialized before address_universe)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main' "
        "AND database_name = current_database()",
        [UNIVERSE_TABLE],
    ).fetchall()[0][0]
    if not found:
        raise LookupError(
            f"the warehouse has no {UNIVERSE_TABLE} table: materialize address_universe first "
            "(it decides which addresses get features)"
        )


def store_universe(
    con: duckdb.DuckDBPyConnection, universe: pl.DataFrame, labelled: pl.DataFrame
) -> int:
    """Replace the universe table in one statement, flagging addresses found in the labels."""
    flagged = universe.with_columns(
        pl.col("address").is_in(labelled["address"].implode()).alias("is_labelled_illicit")
    )
    con.register("universe_frame", flagged.to_arrow())
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {UNIVERSE_TABLE} AS "
            "SELECT address, inclusion_reason, is_labelled_illicit FROM universe_frame "
            "ORDER BY address"
        )
    finally:
        con.unregister("universe_frame")
    return flagged.height
