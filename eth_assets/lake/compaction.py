"""Compaction of the lake's small days: one file for the whole table, or per calendar year or
month, whose day files are small together, read in place of them while it still matches them.

Days stay the unit of writing (one file per UTC day, replaced atomically). On a sparse history,
such as the real sample's 150 transactions a day over eight years, thousands of tiny day files
make every scan pay thousands of file opens; a compact file removes that cost without changing
how days are written. Each compact file records in its Parquet metadata the period it covers and
a fingerprint (inode, size, mtime) of every day file it was built from. Readers use it only while
those fingerprints equal the current day files of the period, so a day rewritten or emptied after
compaction is never read stale or twice. Compact files are immutable and uniquely named; one that
stops being read is marked and removed only after a grace period, so a query planned just before
a compaction can still open it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from eth_assets.chain.schemas import RAW_TABLES, RawTable
from eth_assets.common.duckdb_utils import connect, sql_file_list, sql_literal

PART_FILE = "part.parquet"
DAY_PREFIX = "block_date="
COMPACT_DIR = "_compact"
MANIFEST_KEY = "eth_assets.compaction"
SUPERSEDED_SUFFIX = ".superseded"
TMP_SUFFIX = ".tmp"

Fingerprint = tuple[int, int, int]  # inode, size in bytes, mtime in ns


@dataclass(frozen=True)
class Period:
    """The unit a compact file covers: the whole table (`all`), a calendar year (`2019`) or a
    calendar month (`2019-04`)."""

    label: str
    start: date
    end: date  # exclusive

    @classmethod
    def whole(cls) -> Period:
        return cls("all", date.min, date.max)

    @classmethod
    def year(cls, day: date) -> Period:
        return cls(f"{day.year:04d}", date(day.year, 1, 1), date(day.year + 1, 1, 1))

    @classmethod
    def month(cls, day: date) -> Period:
        end = date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
        return cls(f"{day.year:04d}-{day.month:02d}", date(day.year, day.month, 1), end)

    @classmethod
    def parse(cls, label: str) -> Period:
        """The period named by a label written by `whole`, `year` or `month`."""
        if label == "all":
            return cls.whole()
        parts = [int(p) for p in label.split("-")]
        if len(parts) == 1:
            return cls.year(date(parts[0], 1, 1))
        if len(parts) == 2:
            return cls.month(date(parts[0], parts[1], 1))
        raise ValueError(f"not a compaction period: {label!r}")

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    def covers(self, other: Period) -> bool:
        return self.start <= other.start and other.end <= self.end

    def overlaps(self, other: Period) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class CompactFile:
    """A compact file and the day files (day → fingerprint) it was built from."""

    path: Path
    period: Period
    days: dict[date, Fingerprint]
    mtime: float

    def is_current(self, fingerprints: dict[date, Fingerprint]) -> bool:
        """True while the period's day files are exactly those the file was built from."""
        start, end = self.period.start, self.period.end
        return {d: fp for d, fp in fingerprints.items() if start <= d < end} == self.days


@dataclass(frozen=True)
class ReadPlan:
    """What a reader of one raw table opens: compact files, and the day files they don't cover."""

    compact_files: list[Path]
    day_files: list[str]  # text, not Path: building thousands of Paths costs more than listing


def compact_dir(table_dir: Path) -> Path:
    """Where a table's compact files live: `<lake>/_compact/<table>`, outside the table's folder,
    so that a glob over the day files (`<table>/*/*.parquet`) never reads a row twice."""
    return table_dir.parent / COMPACT_DIR / table_dir.name


def scan_days(table_dir: Path) -> dict[date, tuple[str, Fingerprint]]:
    """The table's day files (paths as text) and their fingerprints, oldest day first.

    Every reader plans its files this way, so it is one directory listing and one stat per day:
    on the sample's 2,618 days a glob, or a `Path` per file, costs several times the listing.
    Folders not named `block_date=<ISO day>` or without a day file are skipped.
    """
    try:
        entries = list(os.scandir(table_dir))
    except FileNotFoundError:
        return {}
    found: dict[date, tuple[str, Fingerprint]] = {}
    skip = len(DAY_PREFIX)
    for entry in entries:
        name = entry.name
        if not name.startswith(DAY_PREFIX):
            continue
        path = f"{entry.path}{os.sep}{PART_FILE}"  # os.path.join costs more than the stat
        try:
            day = date.fromisoformat(name[skip:])
            st = os.stat(path)
        except (ValueError, FileNotFoundError, NotADirectoryError):
            continue
        found[day] = (path, (st.st_ino, st.st_size, st.st_mtime_ns))
    return dict(sorted(found.items()))


def split_scan(
    scanned: dict[date, tuple[str, Fingerprint]],
) -> tuple[dict[date, str], dict[date, Fingerprint]]:
    """A scan as (day → file, day → fingerprint)."""
    files = {day: path for day, (path, _) in scanned.items()}
    return files, {day: fp for day, (_, fp) in scanned.items()}


def day_files(table_dir: Path) -> dict[date, Path]:
    """The table's day files, by UTC day, oldest first."""
    return {day: Path(path) for day, (path, _) in scan_days(table_dir).items()}


def compact_files(table_dir: Path) -> list[CompactFile]:
    """Every compact file of the table with a readable manifest (others are ignored)."""
    found = []
    for path in sorted(compact_dir(table_dir).glob("*.parquet")):
        try:
            meta = pq.read_metadata(path).metadata or {}
            manifest = json.loads(meta[MANIFEST_KEY.encode()])
            days = {date.fromisoformat(d): tuple(fp) for d, fp in manifest["days"].items()}
            found.append(
                CompactFile(path, Period.parse(manifest["period"]), days, path.stat().st_mtime)
            )
        except (OSError, KeyError, ValueError):
            continue
    return found


def choose(files: list[CompactFile], current: dict[date, Fingerprint]) -> list[CompactFile]:
    """The compact files to read: current ones, years before months, newest first, no overlap."""
    chosen: list[CompactFile] = []
    candidates = [f for f in files if f.is_current(current)]
    for f in sorted(candidates, key=lambda f: (f.period.start - f.period.end, -f.mtime)):
        if not any(f.period.overlaps(c.period) for c in chosen):
            chosen.append(f)
    return sorted(chosen, key=lambda f: f.period.start)


def _plan(files: dict[date, str], chosen: list[CompactFile]) -> ReadPlan:
    """The chosen compact files, and the day files (oldest first) none of them covers."""
    uncovered = []
    periods = iter(sorted((c.period for c in chosen), key=lambda p: p.start))  # disjoint
    period = next(periods, None)
    for day, path in files.items():
        while period is not None and period.end <= day:
            period = next(periods, None)
        if period is None or day < period.start:
            uncovered.append(path)
    return ReadPlan([c.path for c in chosen], uncovered)


def read_plan(table_dir: Path) -> ReadPlan:
    """Files a reader opens now so that every day is read exactly once, as currently written."""
    files, prints = split_scan(scan_days(table_dir))
    return _plan(files, choose(compact_files(table_dir), prints))


def plan_sql(plan: ReadPlan) -> str | None:
    """A DuckDB SELECT of every row the plan's files hold, with `block_date`; None if no files."""
    parts = []
    if plan.day_files:
        parts.append(
            f"SELECT * FROM read_parquet({sql_file_list(plan.day_files)}, "
            "hive_partitioning = true, hive_types = {'block_date': DATE})"
        )
    if plan.compact_files:
        parts.append(f"SELECT * FROM read_parquet({sql_file_list(plan.compact_files)})")
    return "\nUNION ALL BY NAME\n".join(parts) or None


def plan_periods(sizes: dict[date, int], below_bytes: int) -> list[Period]:
    """Periods worth a compact file: the whole table if its day files total under `below_bytes`,
    else each year that does, else each month of it that does; a period with a single day file
    gains nothing and is skipped."""
    if below_bytes <= 0 or len(sizes) < 2:
        return []
    if sum(sizes.values()) < below_bytes:
        return [Period.whole()]
    periods: list[Period] = []
    for year in sorted({Period.year(d) for d in sizes}, key=lambda p: p.start):
        in_year = {d: s for d, s in sizes.items() if year.contains(d)}
        if sum(in_year.values()) < below_bytes:
            periods += [year] if len(in_year) > 1 else []
            continue
        for month in sorted({Period.month(d) for d in in_year}, key=lambda p: p.start):
            in_month = [s for d, s in in_year.items() if month.contains(d)]
            if len(in_month) > 1 and sum(in_month) < below_bytes:
                periods.append(month)
    return periods


class LakeFileError(duckdb.Error):
    """A lake file cannot be read (a damaged page or footer); the message names the file, its
    table and day (or compact period) and what to do. A duckdb.Error, so readers that handle
    DuckDB errors handle it too."""


# DuckDB errors that never come from a damaged file: no file is probed for them.
NOT_FILE_ERRORS: tuple[type[duckdb.Error], ...] = (
    duckdb.OutOfMemoryException,
    duckdb.InterruptException,
    duckdb.CatalogException,
    duckdb.BinderException,
    duckdb.ParserException,
    duckdb.TransactionException,
    duckdb.ConnectionException,
)
PROBE_BATCH_ROWS = 65_536


def file_problem(path: Path) -> str | None:
    """Why DuckDB cannot read every value of the Parquet file at `path` (None when it can): each
    page of each column is decoded, batch by batch, so memory stays bounded."""
    con = connect()
    try:
        reader = con.sql(f"SELECT * FROM read_parquet({sql_literal(str(path))})").to_arrow_reader(
            PROBE_BATCH_ROWS
        )
        for _ in reader:
            pass
    except duckdb.Error as error:
        return f"{type(error).__name__}: {error}".strip()
    finally:
        con.close()
    return None


def describe_lake_file(path: Path) -> tuple[str, str]:
    """(what the file is, what to do about it) for a day file or a compact file of the lake."""
    if path.parent.name.startswith(DAY_PREFIX):
        table, day = path.parent.parent.name, path.parent.name[len(DAY_PREFIX) :]
        return (
            f"{table}, day {day}",
            "re-extract that day, which replaces the file: dagster asset materialize -m "
            f"eth_assets.definitions --select raw_{table} --partition {day} (from the same "
            "source), then run this step again",
        )
    period = path.stem.rsplit("-", 1)[0]  # compact files are named <period>-<id>.parquet
    return (
        f"{path.parent.name}, compact file of period {period}",
        "delete it (readers then use the day files), run the compact_lake job to rebuild it, "
        "then run this step again",
    )


def damaged_file_error(error: duckdb.Error, files: Iterable[str | Path]) -> LakeFileError | None:
    """A LakeFileError naming the damaged files among `files` behind a DuckDB `error` (the file
    the message names, else those a full read fails on), or None when `error` is not about a
    file or every file reads."""
    if isinstance(error, (LakeFileError, *NOT_FILE_ERRORS)):
        return None
    candidates = [Path(f) for f in files]
    named = [f for f in candidates if str(f) in str(error)]
    found = [(f, str(error)) for f in named] or [
        (f, problem) for f in candidates if (problem := file_problem(f)) is not None
    ]
    if not found:
        return None
    parts = []
    for path, problem in found[:5]:
        what, todo = describe_lake_file(path)
        parts.append(f"lake file {path} ({what}) cannot be read ({problem}): {todo}")
    more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
    return LakeFileError("; ".join(parts) + more + f". DuckDB said: {error}")


def files_read(table_dirs: Iterable[Path]) -> list[str | Path]:
    """Every file a reader of these table folders opens now: compact files and day files."""
    found: list[str | Path] = []
    for table_dir in table_dirs:
        plan = read_plan(table_dir)
        found += [*plan.compact_files, *plan.day_files]
    return found


@contextmanager
def naming_damaged_files(
    files: Iterable[str | Path] | None = None, table_dirs: Iterable[Path] = ()
) -> Iterator[None]:
    """Turn a DuckDB error raised in the block by a damaged lake file into a LakeFileError naming
    it: `files` are probed, or (None) the files readers of `table_dirs` open now."""
    try:
        yield
    except duckdb.Error as error:
        probed = list(files) if files is not None else files_read(table_dirs)
        named = damaged_file_error(error, probed)
        if named is None:
            raise
        raise named from error


def write_compact_file(
    table_dir: Path, period: Period, files: dict[date, str], prints: dict[date, Fingerprint]
) -> Path:
    """Write the period's day files as one compact file (temporary name, then atomic rename).

    The fingerprints were taken before the files are read, so if a day is replaced meanwhile the
    manifest no longer matches it and readers ignore the file: never stale, at worst unused.
    """
    target_dir = compact_dir(table_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    name = f"{period.label}-{uuid.uuid4().hex[:12]}.parquet"
    target = target_dir / name
    tmp = target_dir / f".{name}{TMP_SUFFIX}"
    days = sorted(d for d in prints if period.contains(d))
    manifest = json.dumps(
        {"period": period.label, "days": {d.isoformat(): list(prints[d]) for d in days}}
    )
    sources = [files[d] for d in days]
    con = connect()
    try:
        con.execute("SET enable_progress_bar = false")
        with naming_damaged_files(sources):
            con.execute(
                f"COPY (SELECT * FROM read_parquet({sql_file_list(sources)}, "
                "hive_partitioning = true, hive_types = {'block_date': DATE})) "
                f"TO {sql_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd, "
                f"KV_METADATA {{{sql_literal(MANIFEST_KEY)}: {sql_literal(manifest)}}})"
            )
        os.replace(tmp, target)
    finally:
        con.close()
        tmp.unlink(missing_ok=True)
    return target


def sweep(
    table_dir: Path,
    files: list[CompactFile],
    keep: list[CompactFile],
    grace_seconds: float,
    now: float,
) -> list[Path]:
    """Mark compact files that readers no longer choose; remove those marked over `grace_seconds`
    ago, and temporary files of killed compactions as old. Returns what was removed."""
    removed: list[Path] = []
    kept = {f.path for f in keep}
    for f in files:
        marker = f.path.with_name(f.path.name + SUPERSEDED_SUFFIX)
        if f.path in kept:
            marker.unlink(missing_ok=True)
        elif not marker.exists():
            marker.touch()
        elif marker.stat().st_mtime < now - grace_seconds:
            f.path.unlink(missing_ok=True)
            marker.unlink(missing_ok=True)
            removed.append(f.path)
    for tmp in compact_dir(table_dir).glob(f".*{TMP_SUFFIX}"):
        if tmp.stat().st_mtime < now - grace_seconds:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@dataclass(frozen=True)
class Compaction:
    """Outcome of compacting one table: periods written, and files removed by the sweep."""

    written: list[str]
    removed: list[Path]
    compact_files: int
    day_files_read: int


def compact_table(
    table_dir: Path,
    below_bytes: int,
    grace_seconds: float,
    touched: list[date] | None = None,
    now: float | None = None,
) -> Compaction:
    """Bring the table's compact files up to date.

    A small period gets a new compact file when no current one covers it (so after the threshold is
    lowered, a current larger file is kept until one of its days changes, instead of writing
    smaller files it would hide); `touched` limits this to the periods holding those days (the
    window just written). Then files readers no longer choose are swept (see `sweep`).
    """
    now = time.time() if now is None else now
    files, prints = split_scan(scan_days(table_dir))
    existing = compact_files(table_dir)
    written: list[str] = []
    for period in plan_periods({d: fp[1] for d, fp in prints.items()}, below_bytes):
        if touched is not None and not any(period.contains(d) for d in touched):
            continue
        if any(f.period.covers(period) and f.is_current(prints) for f in existing):
            continue  # already read from a current file (a larger one after a lowered threshold)
        write_compact_file(table_dir, period, files, prints)
        written.append(period.label)
    existing = compact_files(table_dir)
    files, prints = split_scan(scan_days(table_dir))
    chosen = choose(existing, prints)
    removed = sweep(table_dir, existing, chosen, grace_seconds, now)
    plan = _plan(files, chosen)
    return Compaction(written, removed, len(plan.compact_files), len(plan.day_files))


def table_relation_sql(root: Path, table: RawTable) -> str:
    """A DuckDB SELECT over the table's lake files, typed and empty when the table has no files.

    Reads each day once: from a current compact file where one covers it, else its day file.
    """
    relation = plan_sql(read_plan(root / table.name))
    if relation is None:
        nulls = ", ".join(f'CAST(NULL AS {t}) AS "{n}"' for n, t in table.columns)
        return f"SELECT {nulls}, CAST(NULL AS DATE) AS block_date WHERE false"
    return relation


@dataclass(frozen=True)
class LakeFiles:
    """The raw tables of the lake folder `root` as DuckDB SELECTs, for readers outside the
    pipeline (the address page), which need no Dagster resource."""

    root: Path

    def relation_sql(self, table_name: str) -> str:
        return table_relation_sql(self.root, RAW_TABLES[table_name])

    def naming_damaged_files(self) -> contextlib.AbstractContextManager[None]:
        """A DuckDB error from a damaged file of the raw tables, raised in the block, becomes a
        LakeFileError naming it (see `naming_damaged_files`)."""
        return naming_damaged_files(table_dirs=[self.root / name for name in RAW_TABLES])
