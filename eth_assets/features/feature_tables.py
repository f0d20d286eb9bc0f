"""Per-address features as of a cutoff, computed by one SQL query
(eth_assets/features/sql/address_features.sql).

Plain functions, no Dagster: the asset layer, the benchmark and the scripts call them with a
DuckDB connection that has `transactions`, `token_transfers` and `universe` defined (or, for
`features_from_lake`, the lake and the stored universe). Definitions: docs/features.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

import duckdb
import polars as pl
import pyarrow as pa

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.common.addresses import normalize_address
from eth_assets.common.chain_time import as_utc
from eth_assets.common.duckdb_utils import sql_literal, transaction
from eth_assets.common.sql_files import load_sql
from eth_assets.features.feature_provenance import Provenance, write_provenance
from eth_assets.features.universe import UNIVERSE_TABLE
from eth_assets.labels.label_broadcast import store_label_broadcast_tokens

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


BEHAVIOUR_SQL_NAME = "behaviour_features"
# The columns of eth_assets/features/sql/behaviour_features.sql after `address`
# (docs/features.md#behaviour-features).
BEHAVIOUR_COLUMNS: list[str] = [
    "failed_sent_share",
    "contract_call_share",
    "zero_value_sent_share",
    "round_value_sent_share",
    "round_value_received_share",
    "gas_price_vs_day",
    "gas_price_cv",
    "distinct_gas_price_share",
    "gas_used_ratio",
    "active_days",
    "busiest_day_share",
    "hour_entropy",
    "first_received_to_first_sent_mins",
    "median_sender_activity",
    "median_recipient_activity",
]


MARKET_GAS_VIEW = "market_gas_price"
FULL_CHAIN = "full chain"
CHOSEN_HISTORIES = "chosen histories"
# Features whose value for an address depends on which other accounts the store holds: the
# counterparties' activity counts their transactions in the store (docs/features.md).
STORE_DEPENDENT_COLUMNS: tuple[str, ...] = ("median_sender_activity", "median_recipient_activity")


def store_kind(complete_histories: bool) -> str:
    """What a store holds: the full chain (every transaction of its days) or chosen accounts'
    histories (other addresses appear only through their transactions with those accounts)."""
    return FULL_CHAIN if complete_histories else CHOSEN_HISTORIES


def register_market_gas(con: duckdb.DuckDBPyConnection, reference: Path | None) -> None:
    """Define `market_gas_price(day, gas_price)`, the chain-wide average gas price of each day that
    `gas_price_vs_day` divides by: from `reference` (Etherscan's daily average gas price export,
    columns `UnixTimeStamp` and `Value (Wei)`) for a store of chosen accounts' histories, whose
    own days hold only those accounts; from the store itself (`None`) when it holds the full
    chain. A missing file or column stops with an error naming it; a day valued 0 is unknown."""
    if reference is None:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {MARKET_GAS_VIEW} AS "
            "SELECT CAST(block_timestamp AS DATE) AS day, AVG(CAST(gas_price AS DOUBLE)) AS "
            "gas_price FROM transactions GROUP BY CAST(block_timestamp AS DATE)"
        ).fetchall()
        return
    if not reference.is_file():
        raise FileNotFoundError(
            f"the market gas price file {reference} does not exist: set "
            "ETH_ASSETS_MARKET_GAS_PRICES to Etherscan's daily average gas price export"
        )
    relation = f"read_csv({sql_literal(str(reference))}, all_varchar = true, header = true)"
    columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    missing = {"UnixTimeStamp", "Value (Wei)"} - columns
    if missing:
        raise ValueError(
            f"the market gas price file {reference} lacks the column(s) {sorted(missing)}: "
            f'expected Etherscan\'s export ("Date(UTC)","UnixTimeStamp","Value (Wei)"), '
            f"found {sorted(columns)}"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {MARKET_GAS_VIEW} AS "
        'SELECT CAST(to_timestamp(CAST("UnixTimeStamp" AS BIGINT)) AS DATE) AS day, '
        'NULLIF(CAST("Value (Wei)" AS DOUBLE), 0) AS gas_price '
        f"FROM {relation}"
    ).fetchall()


def create_behaviour_features(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    table: str = "behaviour_features",
    market_gas: Path | None = None,
) -> int:
    """Materialise the behaviour features of every universe address as of `as_of` into `table`
    (same inputs as the Farrugia query; `market_gas` as in `register_market_gas`); row count."""
    if not table.replace("_", "").isalnum():
        raise ValueError(f"not a plain table name: {table!r}")
    register_market_gas(con, market_gas)
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS\n{load_sql(BEHAVIOUR_SQL_NAME)}",
        {"as_of": as_utc(as_of)},
    ).fetchall()
    return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchall()[0][0])


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


Reader = TypeVar("Reader", bound=Callable[..., object])


def naming_damaged_lake_files(read: Reader) -> Reader:
    """`read(con, lake, …)` with a DuckDB error from a damaged lake file turned into an error
    naming the file, its day and what to do, when `lake` can tell (the lake resource does)."""

    @functools.wraps(read)
    def wrapper(
        con: duckdb.DuckDBPyConnection, lake: RawRelations, *args: object, **kwargs: object
    ) -> object:
        naming = getattr(lake, "naming_damaged_files", None)
        if naming is None:
            return read(con, lake, *args, **kwargs)
        with naming():
            return read(con, lake, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def without_tokens(relation_sql: str, tokens: Sequence[str]) -> str:
    """Token transfers of `relation_sql` except those of the token contracts `tokens` (any case;
    an invalid address stops with an error quoting it). Standard SQL: DuckDB and BigQuery."""
    if not tokens:
        return relation_sql
    listed = ", ".join(sql_literal(normalize_address(token)) for token in tokens)
    return (
        f"SELECT * FROM ({relation_sql}) AS all_token_transfers "
        f"WHERE token_address NOT IN ({listed})"
    )


def register_lake_views(
    con: duckdb.DuckDBPyConnection, lake: RawRelations, excluded_tokens: Sequence[str] = ()
) -> None:
    """Expose the raw lake tables as temporary views `transactions` and `token_transfers`, the
    latter without the transfers of `excluded_tokens` (label-broadcast tokens)."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {TRANSACTIONS.name} AS {lake.relation_sql(TRANSACTIONS.name)}"
    )
    relation = without_tokens(lake.relation_sql(TOKEN_TRANSFERS.name), excluded_tokens)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {TOKEN_TRANSFERS.name} AS {relation}")


@naming_damaged_lake_files
def excluded_transfers(
    con: duckdb.DuckDBPyConnection, lake: RawRelations, tokens: Sequence[str], as_of: datetime
) -> tuple[int, int]:
    """Transfers of `tokens` before `as_of` in the lake, and the distinct recipients among the
    stored universe: what leaving them out removes."""
    if not tokens:
        return 0, 0
    listed = ", ".join(sql_literal(normalize_address(token)) for token in tokens)
    row = con.execute(
        f"SELECT count(*), count(DISTINCT u.address) "
        f"FROM ({lake.relation_sql(TOKEN_TRANSFERS.name)}) AS t "
        f"LEFT JOIN {UNIVERSE_TABLE} AS u ON u.address = t.to_address "
        f"WHERE t.token_address IN ({listed}) AND t.block_timestamp < ?",
        [as_utc(as_of)],
    ).fetchall()[0]
    return int(row[0]), int(row[1])


@naming_damaged_lake_files
def features_from_lake(
    con: duckdb.DuckDBPyConnection,
    lake: RawRelations,
    as_of: datetime,
    excluded_tokens: Sequence[str] = (),
) -> int:
    """The local engine: the lake's raw tables (without the transfers of `excluded_tokens`) and
    the stored universe → `address_features`. bench/features.py times this same call."""
    register_lake_views(con, lake, excluded_tokens)
    con.execute(f"CREATE OR REPLACE TEMP VIEW universe AS SELECT address FROM {UNIVERSE_TABLE}")
    return create_address_features(con, as_of, "address_features")


BEHAVIOUR_TABLE = "behaviour_features"
ACTIVITY_SQL_NAME = "address_activity"
# First and last activity per address: read by evaluations and the page, never a model feature.
ACTIVITY_TABLE = "address_activity"


def create_address_activity(
    con: duckdb.DuckDBPyConnection, as_of: datetime, table: str = ACTIVITY_TABLE
) -> int:
    """Materialise first_seen / last_seen of every universe address as of `as_of` into `table`
    (same inputs as the feature queries); row count."""
    if not table.replace("_", "").isalnum():
        raise ValueError(f"not a plain table name: {table!r}")
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS\n{load_sql(ACTIVITY_SQL_NAME)}",
        {"as_of": as_utc(as_of)},
    ).fetchall()
    return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchall()[0][0])


@naming_damaged_lake_files
def feature_tables_from_lake(
    con: duckdb.DuckDBPyConnection,
    lake: RawRelations,
    as_of: datetime,
    excluded_tokens: Sequence[str] = (),
    provenance: Provenance | None = None,
    label_broadcast: pl.DataFrame | None = None,
    market_gas: Path | None = None,
) -> int:
    """`address_features`, `behaviour_features` and `address_activity` from the lake, with their
    `provenance`, in one transaction (a reader never sees one table newer than another); rows
    of address_features."""
    with transaction(con):
        rows = features_from_lake(con, lake, as_of, excluded_tokens)
        create_behaviour_features(con, as_of, BEHAVIOUR_TABLE, market_gas)
        # the label-broadcast detection that chose `excluded_tokens` (None drops a stale one)
        store_label_broadcast_tokens(con, label_broadcast)
        create_address_activity(con, as_of, ACTIVITY_TABLE)
        if provenance is not None:
            write_provenance(con, provenance)
    return rows


def features_of_addresses(
    con: duckdb.DuckDBPyConnection,
    lake: RawRelations,
    addresses: Sequence[str],
    as_of: datetime,
    excluded_tokens: Sequence[str] = (),
    market_gas: Path | None = None,
) -> pl.DataFrame:
    """address_features joined to behaviour_features for `addresses` (lower-case) only: the same
    two queries over the same lake views, with these addresses as the universe. What the address
    page runs to score an address that the published snapshot lacks."""
    register_lake_views(con, lake, excluded_tokens)
    register_market_gas(con, market_gas)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE universe AS "
        "SELECT DISTINCT unnest(CAST(? AS VARCHAR[])) AS address",
        [list(addresses)],
    ).fetchall()
    parameters = {"as_of": as_utc(as_of)}
    farrugia = pl.from_arrow(con.sql(feature_sql(), params=parameters).to_arrow_table())
    behaviour = pl.from_arrow(
        con.sql(load_sql(BEHAVIOUR_SQL_NAME), params=parameters).to_arrow_table()
    )
    assert isinstance(farrugia, pl.DataFrame) and isinstance(behaviour, pl.DataFrame)
    return farrugia.join(behaviour, on="address", how="left")


def store_pushed_features(
    con: duckdb.DuckDBPyConnection,
    features: pa.Table,
    provenance: Provenance | None = None,
    activity: pa.Table | None = None,
) -> int:
    """`address_features` (and `address_activity`) computed in BigQuery, with its `provenance`;
    behaviour_features, which the BigQuery engine does not compute, is dropped in the same
    transaction so no stale one stays beside it (and so is a stale address_activity)."""
    with transaction(con):
        rows = store_features(con, features)
        con.execute(f"DROP TABLE IF EXISTS {BEHAVIOUR_TABLE}").fetchall()
        con.execute(f"DROP TABLE IF EXISTS {ACTIVITY_TABLE}").fetchall()
        if activity is not None:
            con.register("pushed_activity", activity)
            try:
                con.execute(
                    f"CREATE TABLE {ACTIVITY_TABLE} AS "
                    "SELECT * FROM pushed_activity ORDER BY address"
                ).fetchall()
            finally:
                con.unregister("pushed_activity")
        if provenance is not None:
            write_provenance(con, provenance)
    return rows


def store_features(con: duckdb.DuckDBPyConnection, features: pa.Table) -> int:
    """Replace `address_features` by a table computed elsewhere (the BigQuery engine), ordered by
    address as the local engine writes it, in one statement; its row count."""
    con.register("pushed_features", features)
    try:
        con.execute(
            "CREATE OR REPLACE TABLE address_features AS "
            "SELECT * FROM pushed_features ORDER BY address"
        ).fetchall()
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
