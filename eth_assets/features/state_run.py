"""What the feature_state asset and address_features do with the feature state, as plain
functions: bring the state up to date with the lake reading only the days that need it, and
define the state as of a cutoff for the `*_from_state.sql` queries."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from eth_assets.common.addresses import normalize_address
from eth_assets.common.chain_time import as_utc
from eth_assets.common.duckdb_utils import sql_literal, transaction
from eth_assets.features.changed_addresses import (
    StateRead,
    create_changed_tables,
    read_previous,
    state_digest,
    universe_digest,
    write_state_read,
)
from eth_assets.features.feature_provenance import Provenance, write_provenance
from eth_assets.features.feature_state import (
    STATE_TABLES,
    build_state,
    create_tables_from_state,
    register_excluded_tokens,
    runs_of_days,
)
from eth_assets.features.feature_tables import (
    ACTIVITY_TABLE,
    BEHAVIOUR_TABLE,
    register_market_gas,
)
from eth_assets.features.state_store import (
    RAW_TABLES,
    STATE_FOLDER,
    StateDiff,
    compare_with_lake,
    lake_days,
    remove_days,
    state_files,
    write_days,
)
from eth_assets.features.universe import UNIVERSE_TABLE
from eth_assets.labels.label_broadcast import (
    detect_label_broadcast_tokens_from_state,
    store_label_broadcast_tokens,
)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def register_day_views(
    con: duckdb.DuckDBPyConnection, lake_root: Path, days: Iterable[date]
) -> None:
    """Define `transactions` and `token_transfers` over the lake's files of `days` alone (every
    token): what a night reads is its day, never the history."""
    held = lake_days(lake_root)
    wanted = sorted(set(days))
    for table in RAW_TABLES:
        files = [str(held[d][table.name]) for d in wanted if table.name in held.get(d, {})]
        if files:
            names = ", ".join(f'"{name}"' for name, _ in table.columns)
            listed = ", ".join(sql_literal(f) for f in files)
            relation = f"SELECT {names} FROM read_parquet([{listed}])"
        else:
            nulls = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in table.columns)
            relation = f"SELECT {nulls} WHERE false"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {table.name} AS {relation}")


@dataclass(frozen=True)
class StateRefresh:
    """What one refresh of the state did."""

    asked: list[date]
    repaired: list[date]
    removed: list[date]
    built: list[date]
    rows: dict[str, int]
    seconds: float
    before: StateDiff
    after: StateDiff


def refresh_state(
    state_root: Path,
    lake_root: Path,
    days: Sequence[date],
    run_id: str,
    market_gas: Path | None,
) -> StateRefresh:
    """Build the state of `days` (the run's partitions) and of every lake day whose state is
    missing or stale; drop the state of days the lake no longer holds. Reads only those days of
    the lake. `market_gas` as in register_market_gas (None: the day's own transactions)."""
    started = time.monotonic()
    before = compare_with_lake(state_root, lake_root)
    held = lake_days(lake_root)
    asked = sorted(set(days))
    to_build = sorted({d for d in asked if d in held} | set(before.stale))
    gone = sorted(set(before.removed) | {d for d in asked if d not in held})
    remove_days(state_root, gone)
    rows = {name: 0 for name in STATE_TABLES}
    for first, stop in runs_of_days(to_build):
        run_days = [first + timedelta(days=i) for i in range((stop - first).days)]
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            register_day_views(con, lake_root, run_days)
            register_market_gas(con, market_gas)
            state = build_state(con, midnight(first), midnight(stop))
        write_days(state_root, lake_root, state, run_days, run_id)
        for name, table in state.items():
            rows[name] += table.num_rows
    after = compare_with_lake(state_root, lake_root)
    return StateRefresh(
        asked=asked,
        repaired=sorted(set(before.stale) - set(asked)),
        removed=gone,
        built=to_build,
        rows=rows,
        seconds=time.monotonic() - started,
        before=before,
        after=after,
    )


class StaleState(RuntimeError):
    """The feature state disagrees with the lake before a cutoff."""


# Repairs a features run tries when a concurrent run rewrites lake days under it.
STALE_RETRIES = 3


def register_state_as_of(
    con: duckdb.DuckDBPyConnection,
    state_root: Path,
    lake_root: Path,
    as_of: datetime,
    market_gas: Path | None,
) -> StateDiff:
    """Define the state views as of `as_of`: the stored days before the cutoff's day, plus that
    day's rows before the cutoff (built now from that day's lake file) when the cutoff is not
    midnight. Refused with StaleState when a stored day before the cutoff disagrees with the
    lake (materialize feature_state first); returns the comparison."""
    as_of = as_utc(as_of)
    cut_day = as_of.date()
    diff = compare_with_lake(state_root, lake_root, before=cut_day)
    if not diff.current:
        raise StaleState(
            f"the feature state does not match the lake before {cut_day}: {diff.text()}. "
            "Materialize feature_state (any partition repairs every stale day) and run again"
        )
    partial: dict[str, pa.Table] | None = None
    if as_of > midnight(cut_day):
        with duckdb.connect() as day_con:
            day_con.execute("SET TimeZone = 'UTC'")
            register_day_views(day_con, lake_root, [cut_day])
            register_market_gas(day_con, market_gas)
            partial = build_state(day_con, midnight(cut_day), as_of)
    # an empty state with the right columns, for tables without any stored day
    with duckdb.connect() as empty_con:
        empty_con.execute("SET TimeZone = 'UTC'")
        register_day_views(empty_con, lake_root, [])
        register_market_gas(empty_con, None)
        empty = build_state(empty_con, midnight(cut_day), midnight(cut_day) + timedelta(days=1))
    files = state_files(state_root, cut_day)
    for name in STATE_TABLES:
        con.register(f"{name}_empty", empty[name])
        parts = [f"SELECT * FROM {name}_empty"]
        if files[name]:
            listed = ", ".join(sql_literal(str(p)) for p in files[name])
            parts.append(f"SELECT * FROM read_parquet([{listed}])")
        if partial is not None:
            con.register(f"{name}_partial", partial[name])
            parts.append(f"SELECT * FROM {name}_partial")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {' UNION ALL BY NAME '.join(parts)}")
    return diff


def state_folder(lake_root: Path) -> Path:
    """Where the feature state of a lake lives: beside its raw tables."""
    return lake_root / STATE_FOLDER


def label_broadcasts_in_state(
    lake_root: Path, as_of: datetime, labelled: pl.Series, market_gas: Path | None
) -> pl.DataFrame:
    """The label-broadcast detection as of `as_of` over the feature state (every token)."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        register_state_as_of(con, state_folder(lake_root), lake_root, as_of, market_gas)
        con.register("lake_labels", labelled.to_frame().to_arrow())
        return detect_label_broadcast_tokens_from_state(con, "SELECT address FROM lake_labels")


def feature_tables_from_state(
    con: duckdb.DuckDBPyConnection,
    lake_root: Path,
    provenance: Provenance,
    label_broadcast: pl.DataFrame | None,
    market_gas: Path | None,
    previous_catalog: str | None = None,
) -> tuple[int, dict[str, object]]:
    """`address_features`, `behaviour_features` and `address_activity` of the stored universe
    from the feature state as of the provenance's cutoff (refused when the state disagrees with
    the lake before it), with the provenance and the detection, in one transaction. When the
    tables of `previous_catalog` were computed from the same state before their cutoff, the same
    universe and tokens, only the changed addresses are recomputed (changed_addresses.py). Rows,
    and what the run did (the transfers left out, the addresses recomputed and why)."""
    state_root = state_folder(lake_root)
    for attempt in range(1, STALE_RETRIES + 1):
        try:
            register_state_as_of(con, state_root, lake_root, provenance.as_of, market_gas)
            break
        except StaleState:
            # another run rewrote a lake day after this run's repair: repair again, then read
            if attempt == STALE_RETRIES:
                raise
            refresh_state(state_root, lake_root, [], provenance.dagster_run_id, market_gas)
    excluded = [normalize_address(t) for t in provenance.excluded_tokens]
    register_excluded_tokens(con, excluded)
    con.execute(f"CREATE OR REPLACE TEMP VIEW universe AS SELECT address FROM {UNIVERSE_TABLE}")
    read = StateRead(
        as_utc(provenance.as_of),
        state_digest(state_root, as_utc(provenance.as_of).date()),
        universe_digest(con, "universe"),
        tuple(sorted(set(excluded))),
    )
    previous = read_previous(con, previous_catalog) if previous_catalog else None
    then = state_digest(state_root, previous.as_of.date()) if previous else ""
    why_not = read.may_follow(previous, then)
    with transaction(con):
        if why_not is None and previous is not None and previous_catalog is not None:
            since = previous.as_of.date()
            recomputed = create_changed_tables(con, previous_catalog, since)
            read = replace(read, recomputed=recomputed, mode=f"changed since {since}")
        else:
            recomputed = create_tables_from_state(
                con, "address_features", BEHAVIOUR_TABLE, ACTIVITY_TABLE
            )
            read = replace(read, recomputed=recomputed, mode=f"every address: {why_not}")
        rows = int(con.execute("SELECT COUNT(*) FROM address_features").fetchall()[0][0])
        write_state_read(con, read)
        store_label_broadcast_tokens(con, label_broadcast)
        write_provenance(con, provenance)
    left_out = con.execute(
        "SELECT COALESCE(SUM(n), 0), COUNT(DISTINCT u.address) FROM state_tokens AS t "
        f"LEFT JOIN {UNIVERSE_TABLE} AS u ON u.address = t.address "
        "WHERE t.role = 'received' "
        "AND t.token_address IN (SELECT token_address FROM excluded_tokens)"
    ).fetchall()[0]
    return rows, {
        "label_broadcast_transfers_left_out": int(left_out[0]),
        "universe_addresses_that_received_them": int(left_out[1]),
        "addresses_recomputed": read.recomputed,
        "recomputed": read.mode,
    }
