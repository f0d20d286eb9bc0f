"""Per-address features as of a cutoff, computed by one SQL query (sql/address_features.sql).

Plain functions, no Dagster: the asset layer, the benchmark and the scripts call them with a
DuckDB connection that has `transactions`, `token_transfers` and `universe` defined (or, for
`features_from_lake`, the lake and the stored universe). Definitions: docs/features.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import duckdb
import polars as pl
import pyarrow as pa

from eth_assets.chain_time import as_utc
from eth_assets.schemas import RAW_TABLES
from eth_assets.sql import load_sql
from eth_assets.universe import UNIVERSE_TABLE

# Our column name → the column of Farrugia et al. (2020) Complete.csv it reproduces.
# Complete.csv names its 29th feature "ERC20_uniq_sent_addr" a second time (pandas reads it as
# "ERC20_uniq_sent_addr.1"); the collector computes it in the "contract" group, so we name it
# erc20_uniq_sent_contract_addr (see docs/features.md).
PUBLISHED_NAMES: dict[str, str] = {
    "avg_min_between_sent_tnx": "Avg_min_between_sent_tnx",
    "avg_min_between_received_tnx": "Avg_min_between_received_tnx",
    "time_diff_between_first_and_last_mins": "Time_Diff_between_first_and_last_(Mins)",
    "sent_tnx": "Sent_tnx",
    "received_tnx": "Received_Tnx",
    "number_of_created_contracts": "Number_of_Created_Contracts",
    "unique_received_from_addresses": "Unique_Received_From_Addresses",
    "unique_sent_to_addresses": "Unique_Sent_To_Addresses",
    "min_value_received": "min_value_received",
    "max_value_received": "max_value_received",
    "avg_val_received": "avg_val_received",
    "min_val_sent": "min_val_sent",
    "max_val_sent": "max_val_sent",
    "avg_val_sent": "avg_val_sent",
    "min_value_sent_to_contract": "min_value_sent_to_contract",
    "max_val_sent_to_contract": "max_val_sent_to_contract",
    "avg_value_sent_to_contract": "avg_value_sent_to_contract",
    "total_transactions": "total_transactions_(including_tnx_to_create_contract)",
    "total_ether_sent": "total_Ether_sent",
    "total_ether_received": "total_ether_received",
    "total_ether_sent_contracts": "total_ether_sent_contracts",
    "total_ether_balance": "total_ether_balance",
    "total_erc20_tnxs": "Total_ERC20_tnxs",
    "erc20_total_ether_received": "ERC20_total_Ether_received",
    "erc20_total_ether_sent": "ERC20_total_ether_sent",
    "erc20_total_ether_sent_contract": "ERC20_total_Ether_sent_contract",
    "erc20_uniq_sent_addr": "ERC20_uniq_sent_addr",
    "erc20_uniq_rec_addr": "ERC20_uniq_rec_addr",
    "erc20_uniq_sent_contract_addr": "ERC20_uniq_sent_addr.1",
    "erc20_uniq_rec_contract_addr": "ERC20_uniq_rec_contract_addr",
    "erc20_avg_time_between_sent_tnx": "ERC20_avg_time_between_sent_tnx",
    "erc20_avg_time_between_rec_tnx": "ERC20_avg_time_between_rec_tnx",
    "erc20_avg_time_between_rec_2_tnx": "ERC20_avg_time_between_rec_2_tnx",
    "erc20_avg_time_between_contract_tnx": "ERC20_avg_time_between_contract_tnx",
    "erc20_min_val_rec": "ERC20_min_val_rec",
    "erc20_max_val_rec": "ERC20_max_val_rec",
    "erc20_avg_val_rec": "ERC20_avg_val_rec",
    "erc20_min_val_sent": "ERC20_min_val_sent",
    "erc20_max_val_sent": "ERC20_max_val_sent",
    "erc20_avg_val_sent": "ERC20_avg_val_sent",
    "erc20_min_val_sent_contract": "ERC20_min_val_sent_contract",
    "erc20_max_val_sent_contract": "ERC20_max_val_sent_contract",
    "erc20_avg_val_sent_contract": "ERC20_avg_val_sent_contract",
    "erc20_uniq_sent_token_name": "ERC20_uniq_sent_token_name",
    "erc20_uniq_rec_token_name": "ERC20_uniq_rec_token_name",
    "erc20_most_sent_token_type": "ERC20_most_sent_token_type",
    "erc20_most_rec_token_type": "ERC20_most_rec_token_type",
}

# The published features, then the one the brief adds (max value sent − min value sent).
FARRUGIA_COLUMNS: list[str] = [*PUBLISHED_NAMES, "sent_diff_between_max_and_min"]
INVESTOR_COLUMNS: list[str] = ["balance_eth", "unique_tokens_held", "unique_token_transfers"]
# All feature columns of the output table, in order (the table also has `address` first).
FEATURE_COLUMNS: list[str] = FARRUGIA_COLUMNS + INVESTOR_COLUMNS
# Token names (VARCHAR, NULL without token activity); every other feature is numeric, never NULL.
CATEGORICAL_COLUMNS: list[str] = ["erc20_most_sent_token_type", "erc20_most_rec_token_type"]
NUMERIC_FEATURE_COLUMNS: list[str] = [c for c in FEATURE_COLUMNS if c not in CATEGORICAL_COLUMNS]

SQL_NAME = "address_features"


def feature_sql() -> str:
    """The feature query: one SELECT over `transactions`, `token_transfers`, `universe`."""
    return load_sql(SQL_NAME)


def create_address_features(
    con: duckdb.DuckDBPyConnection, as_of: datetime, table: str = "address_features"
) -> int:
    """Materialise the features of every universe address as of `as_of` into `table`; row count."""
    if not table.replace(".", "").replace("_", "").isalnum():
        raise ValueError(f"not a plain table name: {table!r}")
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS\n{feature_sql()}", {"as_of": as_utc(as_of)}
    ).fetchall()
    return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchall()[0][0])


class RawRelations(Protocol):
    """Where the raw tables are read from: a DuckDB SELECT per raw table (the lake resource)."""

    def relation_sql(self, table_name: str) -> str: ...


def register_lake_views(con: duckdb.DuckDBPyConnection, lake: RawRelations) -> None:
    """Expose the raw lake tables as temporary views `transactions` and `token_transfers`."""
    for name in RAW_TABLES:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {lake.relation_sql(name)}")


def features_from_lake(con: duckdb.DuckDBPyConnection, lake: RawRelations, as_of: datetime) -> int:
    """The local engine: the lake's raw tables and the stored universe → `address_features`.
    bench/features.py times this same call."""
    register_lake_views(con, lake)
    con.execute(f"CREATE OR REPLACE TEMP VIEW universe AS SELECT address FROM {UNIVERSE_TABLE}")
    return create_address_features(con, as_of, "address_features")


def store_features(con: duckdb.DuckDBPyConnection, features: pa.Table) -> int:
    """Replace `address_features` by a table computed elsewhere (the BigQuery engine), ordered by
    address as the local engine writes it, in one statement; its row count."""
    con.register("pushed_features", features)
    try:
        con.execute(
            "CREATE OR REPLACE TABLE address_features AS "
            "SELECT * FROM pushed_features ORDER BY address"
        )
    finally:
        con.unregister("pushed_features")
    return features.num_rows


def feature_summary(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    """Per numeric column: nulls, min, median, max — what a person checks first."""
    columns = [
        r[0]
        for r in con.execute(f"DESCRIBE {table}").fetchall()
        if r[0] != "address" and r[1] not in {"VARCHAR", "BOOLEAN"}
    ]
    parts = [
        f"SELECT '{c}' AS feature, count(*) - count(\"{c}\") AS nulls, "
        f'min("{c}")::DOUBLE AS min, median("{c}")::DOUBLE AS median, '
        f'max("{c}")::DOUBLE AS max FROM {table}'
        for c in columns
    ]
    return con.sql(" UNION ALL ".join(parts)).pl() if parts else pl.DataFrame()
