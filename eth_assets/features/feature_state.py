"""Incremental features: per-day partial aggregates (the feature state) and the features
computed from them, equal to the full-history SQL (docs/features.md#incremental-features).

Plain functions, no Dagster. `build_state` runs the state queries (eth_assets/features/sql/
feature_state_*.sql) over the rows of a time window on a connection that has `transactions`,
`token_transfers` (every token: the token key lets the features leave out label-broadcast tokens
decided later) and `market_gas_price` defined, and returns one Arrow table per state table,
keyed by UTC day. `features_from_state` defines the state views
from such tables (every day before the cutoff's, plus that day up to the cutoff) and runs the
`*_from_state.sql` queries, which give the columns of address_features.sql and
behaviour_features.sql.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta

import duckdb
import pyarrow as pa

from eth_assets.common.chain_time import as_utc
from eth_assets.common.sql_files import load_sql

# State table → the SQL file that builds it from one window of raw rows.
STATE_QUERIES: dict[str, str] = {
    "state_ether": "feature_state_ether",
    "state_ether_pairs": "feature_state_ether_pairs",
    "state_ether_times": "feature_state_ether_hours",
    "state_tokens": "feature_state_tokens",
    "state_token_balances": "feature_state_token_balances",
    "state_token_transactions": "feature_state_token_transactions",
    "state_contracts": "feature_state_contracts",
}
STATE_TABLES: tuple[str, ...] = tuple(STATE_QUERIES)
ADDRESS_FEATURES_FROM_STATE = "address_features_from_state"
BEHAVIOUR_FEATURES_FROM_STATE = "behaviour_features_from_state"
ADDRESS_ACTIVITY_FROM_STATE = "address_activity_from_state"


def build_state(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime
) -> dict[str, pa.Table]:
    """The state of the rows with start <= block_timestamp < end, one Arrow table per state
    table, every row carrying its UTC `day`. A window may span many days (a backfill) or end
    inside one (the cutoff's day)."""
    if as_utc(end) <= as_utc(start):
        raise ValueError(f"the state window must end after it starts: {start} … {end}")
    parameters = {"start": as_utc(start), "end": as_utc(end)}
    return {
        table: con.sql(load_sql(query), params=parameters).to_arrow_table()
        for table, query in STATE_QUERIES.items()
    }


def register_state(con: duckdb.DuckDBPyConnection, state: Mapping[str, pa.Table]) -> None:
    """Define the state views the `*_from_state.sql` queries read, from Arrow tables."""
    missing = set(STATE_TABLES) - set(state)
    if missing:
        raise ValueError(f"the feature state lacks the table(s) {sorted(missing)}")
    for table in STATE_TABLES:
        con.register(f"{table}_arrow", state[table])
        con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM {table}_arrow")


def concat_states(states: list[Mapping[str, pa.Table]]) -> dict[str, pa.Table]:
    """Several windows' states as one (their days must not overlap)."""
    if not states:
        raise ValueError("no state to combine")
    return {
        table: pa.concat_tables([s[table] for s in states], promote_options="permissive")
        for table in STATE_TABLES
    }


def cutoff_windows(first_day: datetime, as_of: datetime) -> list[tuple[datetime, datetime]]:
    """The windows whose state gives the features as of `as_of`: whole UTC days from
    `first_day` to the cutoff's day, then that day up to the cutoff when it is not midnight."""
    as_of = as_utc(as_of)
    start = as_utc(first_day).replace(hour=0, minute=0, second=0, microsecond=0)
    midnight = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    windows = []
    day = start
    while day < midnight:
        windows.append((day, day + timedelta(days=1)))
        day += timedelta(days=1)
    if as_of > midnight and midnight >= start:
        windows.append((midnight, as_of))
    return windows


# Days built by one local state query: a backfill is built in runs of at most this many days,
# so the Arrow tables a run holds stay a few days' worth whatever the range.
MAX_DAYS_PER_BUILD = 7


def runs_of_days(
    days: Iterable[date], longest: int = MAX_DAYS_PER_BUILD
) -> list[tuple[date, date]]:
    """Consecutive days as [first, stop) runs of at most `longest` days."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] == day and (day - runs[-1][0]).days < longest:
            runs[-1] = (runs[-1][0], day + timedelta(days=1))
        else:
            runs.append((day, day + timedelta(days=1)))
    return runs


def register_excluded_tokens(con: duckdb.DuckDBPyConnection, tokens: Sequence[str]) -> None:
    """Define `excluded_tokens(token_address)`: the label-broadcast tokens a run leaves out."""
    listed = pa.table({"token_address": pa.array(sorted(set(tokens)), pa.string())})
    con.register("excluded_tokens_arrow", listed)
    con.execute("CREATE OR REPLACE TEMP VIEW excluded_tokens AS FROM excluded_tokens_arrow")


def create_tables_from_state(
    con: duckdb.DuckDBPyConnection,
    table: str = "address_features",
    behaviour_table: str | None = "behaviour_features",
    activity_table: str | None = None,
) -> int:
    """Materialise `table` (address_features' columns) and, unless None, `behaviour_table` and
    `activity_table` (address_activity's) for every `universe` address from the registered
    state views and `excluded_tokens`; the row count."""
    queries = {
        table: ADDRESS_FEATURES_FROM_STATE,
        behaviour_table: BEHAVIOUR_FEATURES_FROM_STATE,
        activity_table: ADDRESS_ACTIVITY_FROM_STATE,
    }
    for name, query in queries.items():
        if name is not None:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS\n{load_sql(query)}")
    return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchall()[0][0])


def features_from_state(
    con: duckdb.DuckDBPyConnection,
    state: Mapping[str, pa.Table],
    table: str = "address_features",
    behaviour_table: str | None = "behaviour_features",
    excluded_tokens: Sequence[str] = (),
    activity_table: str | None = None,
) -> int:
    """`create_tables_from_state` over `state` (Arrow tables holding exactly the rows before the
    cutoff), leaving out the transfers of `excluded_tokens` (lower-case contract addresses)."""
    register_state(con, state)
    register_excluded_tokens(con, excluded_tokens)
    return create_tables_from_state(con, table, behaviour_table, activity_table)
