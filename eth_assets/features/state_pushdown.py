"""The feature state inside BigQuery: the same state queries and `*_from_state.sql` queries as the
local engine, transpiled by sqlglot (eth_assets/features/pushdown.py), so that a night with the
bigquery engine reads one day's partitions of `transactions` / `token_transfers` plus the state,
never the history (docs/features.md#incremental-features, docs/operations.md#bigquery-nights).

The state lives in a dataset of yours ($ETH_ASSETS_BQ_STATE_DATASET): one table per state table,
partitioned by `day` and clustered by `address`, and `state_days` (one row per built day, with the
raw row counts it was built from). A window of days is written by one script: the tables are
created when missing, then its days are deleted and inserted again in one transaction, so a day
is either as it was or complete, and building a day again replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import sqlglot
from google.cloud import bigquery
from sqlglot import exp

from eth_assets.chain.bigquery_calls import bigquery_sql, window_parameters
from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.common.addresses import normalize_address
from eth_assets.common.chain_time import GENESIS_DATE, as_utc, start_of_day
from eth_assets.common.sql_files import load_sql
from eth_assets.features.feature_state import (
    ADDRESS_ACTIVITY_FROM_STATE,
    ADDRESS_FEATURES_FROM_STATE,
    STATE_QUERIES,
    runs_of_days,
)
from eth_assets.features.pushdown import transpile_to_bigquery
from eth_assets.features.state_store import lake_days
from eth_assets.resources.bigquery_source import BigQueryChainSource

STATE_DAYS = "state_days"
STATE_DAYS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {days} (day DATE, transactions INT64, token_transfers INT64, "
    "built_at TIMESTAMP) PARTITION BY day;"
)
# The one state table the features read beyond the universe's rows: the contracts known at the
# cutoff (whether a counterparty is a contract). Every other is filtered on its clustering column.
WHOLE_STATE_TABLE = "state_contracts"
# BigQuery refuses a job that modifies more than 4,000 partitions: a backfill is split.
MAX_DAYS_PER_SCRIPT = 1000
# The chain-wide average gas price of the window's days, from the same one-day partitions (the
# bigquery source is the full chain, as a full-chain lake's own days are locally).
MARKET_GAS_SQL = (
    "SELECT DATE(block_timestamp) AS day, AVG(CAST(gas_price AS FLOAT64)) AS gas_price "
    "FROM transactions GROUP BY day"
)


def _check_dataset(dataset: str) -> str:
    """`dataset` validated as project.dataset (it is pasted into SQL)."""
    bigquery_sql(TRANSACTIONS, dataset)  # raises naming it when it is not an identifier
    return dataset


def raw_window_relations(dataset: str) -> dict[str, str]:
    """The relations the state queries read, as BigQuery queries over one window (@start, @end)
    of the partitioned raw tables; every token (excluded tokens are left out when reading)."""
    return {
        TRANSACTIONS.name: bigquery_sql(TRANSACTIONS, dataset),
        TOKEN_TRANSFERS.name: bigquery_sql(TOKEN_TRANSFERS, dataset),
        "market_gas_price": MARKET_GAS_SQL,
    }


def state_window_sql(table: str, dataset: str) -> str:
    """The state query of `table` in BigQuery SQL, over the window @start … @end of `dataset`."""
    return transpile_to_bigquery(load_sql(STATE_QUERIES[table]), raw_window_relations(dataset))


def state_tables_read(sql_name: str) -> list[str]:
    """The state tables a `*_from_state.sql` query reads, in STATE_QUERIES order."""
    tree = sqlglot.parse_one(load_sql(sql_name), read="duckdb")
    names = {table.name for table in tree.find_all(exp.Table)}
    return [table for table in STATE_QUERIES if table in names]


# Everything address_features and address_activity read: the state the bigquery engine keeps.
PUSHED_STATE_TABLES: tuple[str, ...] = tuple(
    t
    for t in STATE_QUERIES
    if t
    in {
        *state_tables_read(ADDRESS_FEATURES_FROM_STATE),
        *state_tables_read(ADDRESS_ACTIVITY_FROM_STATE),
    }
)


def state_script(
    dataset: str, state_dataset: str, tables: Sequence[str] = PUSHED_STATE_TABLES
) -> str:
    """The BigQuery script that writes the state of the whole days @start … @end: creates the
    tables when missing, then replaces those days of every table and of `state_days` in one
    transaction."""
    _check_dataset(state_dataset)
    window = "day >= DATE(@start) AND day < DATE(@end)"
    create, replace = [], []
    for table in tables:
        query = state_window_sql(table, dataset)
        target = f"`{state_dataset}.{table}`"
        create.append(
            f"CREATE TABLE IF NOT EXISTS {target} PARTITION BY day CLUSTER BY address AS\n"
            f"SELECT * FROM (\n{query}\n) WHERE FALSE;"
        )
        replace.append(f"DELETE FROM {target} WHERE {window};")
        replace.append(f"INSERT INTO {target}\nSELECT * FROM (\n{query}\n);")
    days = f"`{state_dataset}.{STATE_DAYS}`"
    create.append(STATE_DAYS_TABLE.format(days=days))
    replace.append(f"DELETE FROM {days} WHERE {window};")
    replace.append(f"INSERT INTO {days}\n{state_days_sql(dataset)};")
    return "\n\n".join([*create, "BEGIN TRANSACTION;", *replace, "COMMIT TRANSACTION;"])


def state_days_sql(dataset: str) -> str:
    """One row per day of @start … @end: the raw rows its state was built from."""
    return load_sql("bigquery_state_days").replace("{dataset}", _check_dataset(dataset)).rstrip()


def features_from_state_sql(
    sql_name: str, dataset: str, state_dataset: str, partial_day: bool
) -> str:
    """A `*_from_state.sql` query for BigQuery: the stored state of the days before DATE(@as_of)
    plus, when `partial_day`, that day's state up to @as_of computed from its raw partition
    (@start … @end); the universe is @addresses, the excluded tokens @excluded_tokens."""
    _check_dataset(state_dataset)
    relations = {}
    for table in state_tables_read(sql_name):
        stored = f"SELECT * FROM `{state_dataset}.{table}` WHERE day < DATE(@as_of)"
        if table != WHOLE_STATE_TABLE:  # read for the universe alone: clustering prunes
            stored += " AND address IN UNNEST(@addresses)"
        if partial_day:
            stored += f"\nUNION ALL\nSELECT * FROM (\n{state_window_sql(table, dataset)}\n)"
        relations[table] = stored
    relations["universe"] = "SELECT address FROM UNNEST(@addresses) AS address"
    relations["excluded_tokens"] = (
        "SELECT token_address FROM UNNEST(@excluded_tokens) AS token_address"
    )
    return transpile_to_bigquery(load_sql(sql_name), relations)


def days_missing(held: Sequence[date], as_of: datetime) -> list[date]:
    """The days from genesis to the day before `as_of`'s that the state does not hold."""
    stop = as_utc(as_of).date()
    have = set(held)
    return [
        GENESIS_DATE + timedelta(days=i)
        for i in range((stop - GENESIS_DATE).days)
        if GENESIS_DATE + timedelta(days=i) not in have
    ]


@dataclass
class BigQueryState:
    """What the state work of one run did in BigQuery: the days built and the bytes billed."""

    days_built: list[date]
    bytes_billed: int = 0
    jobs: int = 0
    rewritten: list[date] = field(default_factory=list)  # rebuilt: the lake re-extracted them

    def add(self, reported: dict[str, object]) -> None:
        billed = reported.get("bigquery_bytes_billed", 0)
        self.bytes_billed += billed if isinstance(billed, int) else 0
        self.jobs += 1


@dataclass(frozen=True)
class HeldDay:
    """A day the BigQuery state holds: the raw rows it was built from, and when."""

    transactions: int
    token_transfers: int
    built_at: datetime


def held_state_days(
    source: BigQueryChainSource, state_dataset: str
) -> tuple[dict[date, HeldDay], dict[str, object]]:
    """The days `state_days` holds (its table created empty on a first run), and the job's
    report."""
    days = f"`{_check_dataset(state_dataset)}.{STATE_DAYS}`"
    sql = f"{STATE_DAYS_TABLE.format(days=days)}\n\nSELECT * FROM {days} ORDER BY day;"
    table, reported = source.query_arrow(sql, [], f"BigQuery feature state days in {state_dataset}")
    held = {
        row["day"]: HeldDay(row["transactions"], row["token_transfers"], as_utc(row["built_at"]))
        for row in (table.to_pylist() if table.num_rows else [])
    }
    return held, reported


def rewritten_lake_days(held: Mapping[date, HeldDay], lake_root: Path | None) -> list[date]:
    """Days whose lake file (extracted from the same dataset) was written after their BigQuery
    state was built: a re-extract, so the state of that day is built again."""
    if lake_root is None:
        return []
    rewritten = []
    for day, files in lake_days(lake_root).items():
        if day in held:
            written = max(path.stat().st_mtime for path in files.values())
            if datetime.fromtimestamp(written, UTC) > held[day].built_at:
                rewritten.append(day)
    return rewritten


def build_state_days(
    source: BigQueryChainSource, state_dataset: str, days: Sequence[date]
) -> BigQueryState:
    """Write the state of `days` into `state_dataset`, one script per run of consecutive days
    (each reads only its days' partitions of the raw tables)."""
    done = BigQueryState(sorted(set(days)))
    script = state_script(source.dataset, state_dataset)
    for first, stop in runs_of_days(days, MAX_DAYS_PER_SCRIPT):
        what = (
            f"BigQuery feature state of {first} … {stop - timedelta(days=1)} into {state_dataset}"
        )
        _, reported = source.query_arrow(
            script, window_parameters(start_of_day(first), start_of_day(stop)), what, rows=False
        )
        done.add(reported)
    return done


def features_from_bigquery_state(
    source: BigQueryChainSource,
    addresses: list[str],
    as_of: datetime,
    excluded_tokens: Sequence[str] = (),
    lake_root: Path | None = None,
) -> tuple[pa.Table, pa.Table, BigQueryState]:
    """address_features and address_activity of `addresses` as of `as_of`, computed in BigQuery
    from the feature state: the days the state lacks (all of them on a first run, the new day on
    a night) are built first, then the two queries read the state alone, plus the cutoff day's
    raw partition up to `as_of` when it is not midnight. A day the lake at `lake_root` has
    re-extracted since its state was built is built again."""
    state_dataset = source.feature_state_dataset()
    as_of = as_utc(as_of)
    held, reported = held_state_days(source, state_dataset)
    rewritten = [d for d in rewritten_lake_days(held, lake_root) if d < as_of.date()]
    built = build_state_days(source, state_dataset, [*days_missing(held, as_of), *rewritten])
    built.rewritten = rewritten
    built.add(reported)
    midnight = start_of_day(as_of.date())
    partial = as_of > midnight
    parameters: list[bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter] = [
        bigquery.ScalarQueryParameter("as_of", "TIMESTAMP", as_of),
        bigquery.ArrayQueryParameter("addresses", "STRING", addresses),
        bigquery.ArrayQueryParameter(
            "excluded_tokens", "STRING", sorted({normalize_address(t) for t in excluded_tokens})
        ),
    ]
    if partial:
        parameters += window_parameters(midnight, as_of)
    results = []
    for sql_name in (ADDRESS_FEATURES_FROM_STATE, ADDRESS_ACTIVITY_FROM_STATE):
        sql = features_from_state_sql(sql_name, source.dataset, state_dataset, partial)
        what = (
            f"BigQuery {sql_name} over the state in {state_dataset} for {len(addresses)} addresses"
        )
        table, reported = source.query_arrow(sql, parameters, what)
        built.add(reported)
        results.append(table)
    return results[0], results[1], built
