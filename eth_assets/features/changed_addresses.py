"""Recompute only what changed: when the previous feature tables were computed from the same
state (every day before the previous cutoff's day unchanged since), the same universe and the
same tokens left out, a run recomputes the addresses `changed_addresses.sql` names and keeps
every other row as it was; otherwise it recomputes every address. Plain functions, no Dagster.

What a run read is recorded in `feature_state_read` (written with the feature tables), so the
next run can tell whether its previous tables still describe the state before its window.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from eth_assets.common.chain_time import as_utc
from eth_assets.common.duckdb_utils import sql_identifier, table_names
from eth_assets.common.sql_files import load_sql
from eth_assets.features.feature_state import create_tables_from_state
from eth_assets.features.state_store import read_manifests

STATE_READ_TABLE = "feature_state_read"
# The tables a run computes per address, in the order create_tables_from_state writes them.
PER_ADDRESS_TABLES: tuple[str, ...] = ("address_features", "behaviour_features", "address_activity")


def state_digest(state_root: Path, before: date) -> str:
    """A fingerprint of the state's days before `before`: their days and versions (a day built
    again gets a new version)."""
    days = sorted(
        (day.isoformat(), m.version)
        for day, m in read_manifests(state_root).items()
        if day < before
    )
    return hashlib.sha256(json.dumps(days).encode()).hexdigest()


def universe_digest(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """A fingerprint of the addresses of `relation`."""
    rows = con.execute(f"SELECT address FROM {relation} ORDER BY address").fetchall()
    return hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest()


@dataclass(frozen=True)
class StateRead:
    """What a features run read: its cutoff, the state before the cutoff's day, the universe and
    the tokens left out; and how it computed (every address, or the changed ones)."""

    as_of: datetime
    state_digest: str
    universe_digest: str
    excluded_tokens: tuple[str, ...]
    recomputed: int = 0
    mode: str = "every address"

    def may_follow(self, previous: StateRead | None, digest_then: str) -> str | None:
        """Why this run cannot keep `previous`' rows (None when it can): `digest_then` is the
        fingerprint of today's state before the previous cutoff's day."""
        if previous is None:
            return "no previous tables"
        if previous.as_of > self.as_of:
            return f"the cutoff moved back from {previous.as_of.isoformat()}"
        if previous.universe_digest != self.universe_digest:
            return "the universe changed"
        if previous.excluded_tokens != self.excluded_tokens:
            return "the tokens left out changed"
        if previous.state_digest != digest_then:
            return "a state day before the previous cutoff was built again (a lake day changed)"
        return None


def read_previous(con: duckdb.DuckDBPyConnection, home: str) -> StateRead | None:
    """The StateRead of the tables in catalog `home` (None when it has none of them)."""
    present = set(table_names(con, home))
    if not {STATE_READ_TABLE, *PER_ADDRESS_TABLES} <= present:
        return None
    rows = con.execute(
        f"SELECT as_of, state_digest, universe_digest, excluded_tokens, recomputed, mode "
        f"FROM {sql_identifier(home)}.main.{STATE_READ_TABLE}"
    ).fetchall()
    if len(rows) != 1:
        return None
    as_of, state, universe, tokens, recomputed, mode = rows[0]
    return StateRead(as_utc(as_of), state, universe, tuple(json.loads(tokens)), recomputed, mode)


def write_state_read(con: duckdb.DuckDBPyConnection, read: StateRead) -> None:
    """Store `read` as the one row of feature_state_read (in the connection's default catalog)."""
    con.execute(
        f"CREATE OR REPLACE TABLE {STATE_READ_TABLE} (as_of TIMESTAMPTZ, state_digest VARCHAR, "
        "universe_digest VARCHAR, excluded_tokens VARCHAR, recomputed BIGINT, mode VARCHAR)"
    )
    con.execute(
        f"INSERT INTO {STATE_READ_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
        [
            read.as_of,
            read.state_digest,
            read.universe_digest,
            json.dumps(list(read.excluded_tokens)),
            read.recomputed,
            read.mode,
        ],
    )


def create_changed_tables(con: duckdb.DuckDBPyConnection, home: str, since: date) -> int:
    """The per-address tables from the registered state views: the universe addresses that
    changed from day `since` on recomputed, every other row copied from catalog `home`; the
    number recomputed. Same rows, columns and order as create_tables_from_state."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE changed_addresses AS\n" + load_sql("changed_addresses"),
        {"since": since},
    )
    recomputed = int(con.execute("SELECT COUNT(*) FROM changed_addresses").fetchall()[0][0])
    # the state queries read `universe`: pointed at the changed addresses, then back
    con.execute("CREATE OR REPLACE TEMP TABLE whole_universe AS SELECT address FROM universe")
    con.execute("CREATE OR REPLACE TEMP VIEW universe AS SELECT address FROM changed_addresses")
    try:
        create_tables_from_state(
            con,
            "changed_address_features",
            "changed_behaviour_features",
            "changed_address_activity",
        )
    finally:
        con.execute("CREATE OR REPLACE TEMP VIEW universe AS SELECT address FROM whole_universe")
    for table in PER_ADDRESS_TABLES:
        kept = f"{sql_identifier(home)}.main.{sql_identifier(table)}"
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM ("
            f"SELECT * FROM {kept} WHERE address NOT IN (SELECT address FROM changed_addresses) "
            f"UNION ALL SELECT * FROM changed_{table}) ORDER BY address"
        )
        con.execute(f"DROP TABLE changed_{table}")
    return recomputed
