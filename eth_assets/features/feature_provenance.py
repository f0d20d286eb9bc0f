"""How the feature stage's tables were computed: `Provenance` beside address_features and
`UniverseProvenance` beside address_universe, each one typed row of its own table.

One pair of functions writes and reads them (`write_provenance`, `read_provenance`); every
consumer (the datasets, the classifier, exposure, the scores and the published on-the-fly
terms) reads the typed fields, and the cut-off is a `TIMESTAMP WITH TIME ZONE`, never text.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TypeVar

import duckdb

from eth_assets.common.chain_time import as_utc

PROVENANCE_TABLE = "feature_provenance"
UNIVERSE_PROVENANCE_TABLE = "address_universe_provenance"
PASSED = "passed"


@dataclass(frozen=True)
class Provenance:
    """How address_features was computed: cut-off, engine, chain source and lake, whether the
    store holds whole histories, the tokens left out and the blocking check's outcome."""

    as_of: datetime  # only transactions with block_timestamp < as_of count (UTC)
    engine: str  # "local" (DuckDB over the lake) or "bigquery"
    chain_source: str  # as the chain source describes itself
    complete_histories: bool  # the store holds every address's whole history
    store_kind: str  # "full chain" or "chosen histories"
    market_gas_prices: str  # where the market's gas prices came from
    lake: str  # the lake's folder
    excluded_tokens: tuple[str, ...]  # label-broadcast tokens left out
    dagster_run_id: str = ""
    usability_check: str | None = None  # "passed", "failed: …"; None before the check ran


@dataclass(frozen=True)
class UniverseProvenance:
    """How address_universe was chosen: an address file, or the labelled addresses plus a
    sample of those active before `as_of`."""

    chain_source: str
    origin: str  # in words: the address file, or the sample's size
    sampled: bool  # labelled addresses plus a sample (not an address file)
    as_of: datetime | None  # the feature stage's cut-off; None: an address file and no days
    dagster_run_id: str = ""


Record = TypeVar("Record", Provenance, UniverseProvenance)
TABLE_OF: dict[type, str] = {
    Provenance: PROVENANCE_TABLE,
    UniverseProvenance: UNIVERSE_PROVENANCE_TABLE,
}
# Each field's column type (by field name; the same name means the same type in both tables).
COLUMN_TYPES = {
    "as_of": "TIMESTAMP WITH TIME ZONE",
    "complete_histories": "BOOLEAN",
    "sampled": "BOOLEAN",
    "excluded_tokens": "VARCHAR[]",
}


class StaleProvenance(LookupError):
    """A provenance table of an older form (key/value text): the tables beside it must be
    materialized again."""


def write_provenance(
    con: duckdb.DuckDBPyConnection, record: Provenance | UniverseProvenance
) -> None:
    """Replace the record's table by its one typed row; called inside the transaction that
    writes the table it describes."""
    table = TABLE_OF[type(record)]
    names = [f.name for f in fields(record)]
    columns = ", ".join(f"{n} {COLUMN_TYPES.get(n, 'VARCHAR')}" for n in names)
    con.execute(f"CREATE OR REPLACE TABLE {table} ({columns})").fetchall()
    values = [getattr(record, n) for n in names]
    values = [list(v) if isinstance(v, tuple) else v for v in values]
    con.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(names))})", values).fetchall()


def read_provenance(
    con: duckdb.DuckDBPyConnection, kind: type[Record] = Provenance
) -> Record | None:
    """The stored record of `kind`; None when its table was never written; StaleProvenance,
    saying what to materialize, when an older version wrote it as key/value text."""
    table = TABLE_OF[kind]
    found = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main' "
        "AND database_name = current_database() ORDER BY column_index",
        [table],
    ).fetchall()
    if not found:
        return None
    names = [f.name for f in fields(kind)]
    if [c for (c,) in found] != names:
        asset = "address_features" if kind is Provenance else "address_universe"
        raise StaleProvenance(
            f"{table} was written by an older version (columns {[c for (c,) in found]}, not "
            f"{names}): materialize {asset} again"
        )
    row = dict(zip(names, con.execute(f"SELECT * FROM {table}").fetchall()[0], strict=True))
    if row["as_of"] is not None:
        row["as_of"] = as_utc(row["as_of"])
    if "excluded_tokens" in row:
        row["excluded_tokens"] = tuple(row["excluded_tokens"] or ())
    return kind(**row)


def record_usability(con: duckdb.DuckDBPyConnection, problem: str | None) -> None:
    """Write the blocking check's outcome into the provenance beside the tables it judged."""
    outcome = PASSED if problem is None else f"failed: {problem}"
    con.execute(f"UPDATE {PROVENANCE_TABLE} SET usability_check = ?", [outcome]).fetchall()


def unusable_features(provenance: Provenance | None) -> str | None:
    """Why a reader must refuse the stored address_features (None when it may read them): no
    provenance, or one that records no passed usability check."""
    if provenance is None:
        return "address_features has no recorded provenance: materialize address_features first"
    outcome = provenance.usability_check
    if outcome == PASSED:
        return None
    if outcome is None:
        return (
            "address_features records no passed usability check: materialize address_features again"
        )
    return (
        f"address_features {outcome}: check the raw partitions, as_of and the labels, then "
        "materialize address_features again"
    )
