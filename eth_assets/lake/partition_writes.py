"""Writing the local Parquet lake: one hive-partitioned folder per raw table, one file per UTC
block day.

Writes are staged in full before anything visible changes, then each day's file is swapped in with
an atomic `os.replace`, so an interrupted or repeated materialization leaves every day either as it
was or complete, never duplicated or half-written. Small days are also compacted into one file per
table, year or month, which readers use while it matches the day files (see `compaction`).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from eth_assets.chain.schemas import RAW_TABLES, RawTable
from eth_assets.common.duckdb_utils import connect, sql_literal
from eth_assets.common.files import write_atomic
from eth_assets.lake.compaction import (
    PART_FILE,
    Compaction,
    day_files,
)
from eth_assets.lake.provenance import SOURCE_KEY, UNRECORDED, file_source

STAGING_DIR = ".staging"
# The label table, beside the raw tables in the lake (written by `illicit_labels`).
LABELS_FILE = "illicit_labels.parquet"
# Staging folders older than this belong to runs that were killed (a finished or failed run
# removes its own); they are swept by the next write.
STALE_STAGING_SECONDS = 24 * 3600

# Makes the source's rows of the window available in the connection; returns the relation name
# and metadata about the extraction (e.g. bytes billed).
StageFn = Callable[[duckdb.DuckDBPyConnection], tuple[str, dict[str, object]]]


class LakeGuardError(ValueError):
    """A write the lake refuses because it would mix sources or delete days; nothing changed."""


class LakeCompactionError(RuntimeError):
    """Compaction failed after a window's days were swapped into the lake."""


def lake_sources(root: Path, table: RawTable) -> dict[str, list[date]]:
    """Which source wrote which days of `table` (`unrecorded` for files older than the record)."""
    found: dict[str, list[date]] = {}
    for day, path in day_files(root / table.name).items():
        found.setdefault(file_source(path) or UNRECORDED, []).append(day)
    return found


def other_sources_in_lake(root: Path, source: str) -> dict[str, dict[str, list[date]]]:
    """Days of each raw table that a source other than `source` wrote, by table then source
    (days written before sources were recorded count as the same source)."""
    found: dict[str, dict[str, list[date]]] = {}
    for table in RAW_TABLES.values():
        others = {
            other: days
            for other, days in lake_sources(root, table).items()
            if other not in (source, UNRECORDED)
        }
        if others:
            found[table.name] = others
    return found


def other_sources_text(root: Path, source: str) -> str | None:
    """What the lake at `root` holds from sources other than `source` (raw days and the label
    table), in words; None when it holds nothing of another source."""
    held = [
        f"{days_text(days)} of {name} written by {other_source}"
        for name, by_source in other_sources_in_lake(root, source).items()
        for other_source, days in sorted(by_source.items())
    ]
    labels = root / LABELS_FILE
    labels_source = file_source(labels) if labels.is_file() else None
    if labels_source not in (None, UNRECORDED, source):
        held.append(f"the labels written by {labels_source}")
    return "; ".join(held) or None


def refuse_other_sources(root: Path, source: str, action: str, opt_in: str) -> None:
    """Raise a LakeGuardError before `action` when the lake at `root` holds data of a source
    other than `source`: a data dir belongs to one source, and nothing of it may be replaced
    by another's. `opt_in` says how to switch the lake on purpose."""
    held = other_sources_text(root, source)
    if held is None:
        return
    raise LakeGuardError(
        f"{action}: this run's source is {source}, but the lake {root} holds {held}. Writing "
        "would mix two sources in one data dir. Nothing was changed. Give this source a "
        "separate data dir (ETH_ASSETS_DATA_DIR, or the lake's `root`), or set " + opt_in
    )


def day_rows(path: Path) -> int | None:
    """Rows of a day file from its Parquet footer; None when the footer cannot be read."""
    try:
        return pq.read_metadata(path).num_rows
    except (OSError, ValueError):
        return None


def days_text(days: list[date]) -> str:
    """`n days: d1, d2, … dn` (the first and last few of a long list)."""
    shown = [d.isoformat() for d in days]
    if len(shown) > 8:
        shown = [*shown[:4], "…", *shown[-3:]]
    return f"{len(days)} day{'s' if len(days) != 1 else ''} ({', '.join(shown)})"


@dataclass(frozen=True)
class DayStats:
    """What one UTC day of a raw table holds after a write."""

    day: date
    rows: int
    bytes: int
    first_block_timestamp: datetime | None
    last_block_timestamp: datetime | None
    staged_file: Path | None = None


@dataclass(frozen=True)
class DayShrink:
    """A day the lake held with `before` rows that a write replaces with `after` (fewer) rows."""

    day: date
    before: int
    after: int

    @property
    def share(self) -> float:
        """The share of the day's rows lost."""
        return (self.before - self.after) / self.before if self.before else 0.0

    def text(self) -> str:
        """`2017-06-03 from 2,171 to 1,172 rows (−46.0%)`."""
        counts = f"from {self.before:,} to {self.after:,} rows"
        return f"{self.day.isoformat()} {counts} (−{self.share:.1%})"


def shrinking_days(
    existing: dict[date, Path], staged: dict[date, DayStats], max_share: float
) -> list[DayShrink]:
    """Days held in `existing` whose staged replacement loses more than `max_share` of their
    rows (a partial day); days the source lacks entirely are the deletion guard's."""
    shrunk = []
    for day, stats in sorted(staged.items()):
        before = day_rows(existing[day]) if day in existing else None
        if before is not None and stats.rows < before:
            change = DayShrink(day, before, stats.rows)
            if change.share > max_share:
                shrunk.append(change)
    return shrunk


@dataclass
class WindowWrite:
    """Outcome of replacing a window of days: stats of the days that now hold rows."""

    table: str
    start: datetime
    end: datetime
    days: list[DayStats]
    emptied_days: list[date] = field(default_factory=list)
    shrunk_days: list[DayShrink] = field(default_factory=list)
    source_metadata: dict[str, object] = field(default_factory=dict)
    compaction: Compaction | None = None

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.days)

    @property
    def bytes(self) -> int:
        return sum(d.bytes for d in self.days)


def day_partition_dir(table_dir: Path, day: date) -> Path:
    """Hive-style folder of one day: `<table_dir>/block_date=YYYY-MM-DD`."""
    return table_dir / f"block_date={day.isoformat()}"


def days_in_window(start: datetime, end: datetime) -> Iterator[date]:
    """UTC days d with start <= d < end (window bounds are midnights)."""
    day = start.date()
    while datetime.combine(day, datetime.min.time(), tzinfo=start.tzinfo) < end:
        yield day
        day += timedelta(days=1)


def canonical_select(table: RawTable, relation: str) -> str:
    """SELECT of `relation` cast to the table's canonical columns plus the `block_date` key."""
    casts = ",\n  ".join(
        f'CAST("{name}" AS {sql_type}) AS "{name}"' for name, sql_type in table.columns
    )
    return (
        f"SELECT\n  {casts},\n  CAST(block_timestamp AS DATE) AS block_date\n"
        f"FROM {relation}\nWHERE block_timestamp >= $start AND block_timestamp < $end"
    )


def _stage_window(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    relation: str,
    staging: Path,
    start: datetime,
    end: datetime,
    source: str,
) -> dict[date, DayStats]:
    """Write the window's rows as one Parquet file per day under `staging`, each recording
    `source` in its footer; return per-day stats."""
    order = "block_number, transaction_index" if table.name == "transactions" else "block_number"
    order += ", " + ("hash" if table.name == "transactions" else "transaction_hash, log_index")
    query = canonical_select(table, relation)
    cursor = con.execute(
        f"COPY ({query} ORDER BY {order}) TO {sql_literal(str(staging))} "
        "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (block_date), "
        f"KV_METADATA {{{SOURCE_KEY}: {sql_literal(source)}}}, RETURN_STATS)",
        {"start": start, "end": end},
    )
    names = [d[0] for d in cursor.description]
    stats: dict[date, DayStats] = {}
    for row in cursor.fetchall():
        rec = dict(zip(names, row, strict=True))
        day = date.fromisoformat(rec["partition_keys"]["block_date"])
        ts = rec["column_statistics"].get('"block_timestamp"', {})
        stats[day] = DayStats(
            day=day,
            rows=int(rec["count"]),
            bytes=int(rec["file_size_bytes"]),
            first_block_timestamp=_parse_ts(ts.get("min")),
            last_block_timestamp=_parse_ts(ts.get("max")),
            staged_file=Path(rec["filename"]),
        )
    return stats


def _parse_ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def sweep_stale_staging(staging_root: Path, now: float | None = None) -> list[Path]:
    """Remove staging folders left by killed runs; return what was removed."""
    if not staging_root.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - STALE_STAGING_SECONDS
    stale = [p for p in staging_root.iterdir() if p.stat().st_mtime < cutoff]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def check_window_sources(
    root: Path, table: RawTable, start: datetime, end: datetime, source: str
) -> dict[date, str]:
    """The days of [start, end) that another source wrote, with that source (an `unrecorded`
    day counts as the same source: the lake did not record sources before)."""
    existing = day_files(root / table.name)
    found = {
        day: file_source(existing[day]) for day in days_in_window(start, end) if day in existing
    }
    return {day: other for day, other in found.items() if other not in (None, source)}


def replace_window(
    root: Path,
    table: RawTable,
    stage: StageFn,
    start: datetime,
    end: datetime,
    source: str = "unknown",
    replace_other_source: bool = False,
    allow_deleting_days: bool = False,
    allow_shrinking_days: bool = False,
    max_shrink_share: float = 0.0,
) -> WindowWrite:
    """Replace every day of [start, end) of `table` in the lake with the source's rows.

    Refused with a LakeGuardError naming the sources, days and counts, before anything changes:
    days of the window another source wrote, and any write while the lake holds days of another
    source (so a second source cannot add new days either), unless `replace_other_source`; days
    the lake holds but the source has no rows for, unless `allow_deleting_days`; days the source
    has fewer rows for than the lake (more than `max_shrink_share` of them lost: a partial
    day), unless `allow_shrinking_days`. All days are staged first; only then is each day's
    file swapped in (atomic rename) and, when allowed, days that no longer have rows removed. A
    failure before the swaps leaves the lake untouched.
    """
    table_dir = root / table.name
    other = check_window_sources(root, table, start, end, source)
    if other and not replace_other_source:
        raise LakeGuardError(
            f"{table.name}: the lake holds {days_text(list(other))} written by "
            f"{', '.join(sorted(set(other.values())))}; "
            f"this run's source is {source}. Nothing was changed. Use a separate data dir per "
            "source, or set `replace_other_source: true` in the raw asset's config to replace "
            "those days"
        )
    if not replace_other_source:
        refuse_other_sources(
            root,
            source,
            f"{table.name}: writing [{start.date()}, {end.date()}) from {source}",
            "`replace_other_source: true` in the raw assets' config to switch this lake to it "
            "(then replace every day and rematerialize everything downstream)",
        )
    staging_root = root / STAGING_DIR
    staging = staging_root / f"{table.name}-{uuid.uuid4().hex}"
    sweep_stale_staging(staging_root)
    staging_root.mkdir(parents=True, exist_ok=True)
    table_dir.mkdir(parents=True, exist_ok=True)
    con = connect()
    try:
        relation, source_metadata = stage(con)
        staged = _stage_window(con, table, relation, staging, start, end, source)
        existing = day_files(table_dir)
        to_delete = [d for d in days_in_window(start, end) if d in existing and d not in staged]
        if to_delete and not allow_deleting_days:
            raise LakeGuardError(
                f"{table.name}: the source ({source}) has no rows for {days_text(to_delete)} "
                "that the lake holds; replacing the window would delete them. Nothing was "
                "changed. Check the source, or set `allow_deleting_days: true` in the raw "
                "asset's config if those days really are empty now"
            )
        replaced_from_other = set(other) if replace_other_source else set()
        shrunk = shrinking_days(
            {d: p for d, p in existing.items() if d not in replaced_from_other},
            staged,
            max_shrink_share,
        )
        if shrunk and not allow_shrinking_days:
            shown = [c.text() for c in shrunk[:8]] + (["…"] if len(shrunk) > 8 else [])
            raise LakeGuardError(
                f"{table.name}: the source ({source}) has fewer rows than the lake for "
                f"{len(shrunk)} day{'s' if len(shrunk) != 1 else ''}: {'; '.join(shown)}. "
                "Replacing them would lose those rows (a partial export or a missing file?). "
                "Nothing was changed. Check the source, or set `allow_shrinking_days: true` in "
                "the raw asset's config if the smaller days are right (`max_day_shrink_share` "
                f"tolerates a smaller loss; now {max_shrink_share:.1%})"
            )
        emptied: list[date] = []
        for day in days_in_window(start, end):
            target = day_partition_dir(table_dir, day) / PART_FILE
            if day in staged:
                target.parent.mkdir(exist_ok=True)
                os.replace(staged[day].staged_file, target)
            elif target.exists():
                target.unlink()
                target.parent.rmdir()
                emptied.append(day)
    finally:
        con.close()
        shutil.rmtree(staging, ignore_errors=True)
    return WindowWrite(
        table=table.name,
        start=start,
        end=end,
        days=[staged[d] for d in sorted(staged)],
        emptied_days=emptied,
        shrunk_days=shrunk,
        source_metadata=source_metadata,
    )


def table_files(root: Path, table: RawTable) -> list[Path]:
    """The day files of `table` currently in the lake, oldest day first."""
    return list(day_files(root / table.name).values())


def write_table_atomic(path: Path, table: pa.Table) -> int:
    """Write an Arrow table to `path` through a temporary file and an atomic rename."""
    write_atomic(path, lambda temporary: pq.write_table(table, temporary, compression="zstd"))
    return path.stat().st_size
