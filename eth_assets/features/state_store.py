"""Where the feature state lives on disk, day by day, and whether it still matches the lake.

Plain functions, no Dagster. Each UTC day of the state is a folder `block_date=YYYY-MM-DD/`
under the state root holding a version folder (one Parquet file per state table) and
`manifest.json`, which names the version and records the raw day files it was built from (rows,
size, modification time, inode and SHA-256 of each). A day is replaced by writing a new version
and then the manifest (an atomic rename): a reader sees the old day or the new one, never a mix;
a run killed before the manifest leaves the old day in place and a stray version folder that the
next write of that day removes.

A day of the state is current when its manifest's raw files are the lake's day files now (same
rows, size, modification time and inode; `verify_checksums` also rereads them). A lake day
rewritten, added or deleted after its state was built makes exactly that day stale.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.common.files import write_text_atomic
from eth_assets.features.feature_state import STATE_TABLES
from eth_assets.lake.compaction import day_files

STATE_FOLDER = "feature_state"
MANIFEST = "manifest.json"
RAW_TABLES = (TRANSACTIONS, TOKEN_TRANSFERS)
DAY_PREFIX = "block_date="


@dataclass(frozen=True)
class RawFile:
    """A raw day file as the state of its day saw it."""

    rows: int
    size: int
    mtime_ns: int
    inode: int
    sha256: str = ""

    def same_file(self, other: RawFile) -> bool:
        """The same file unchanged: rows, size, modification time and inode (not the hash)."""
        return (self.rows, self.size, self.mtime_ns, self.inode) == (
            other.rows,
            other.size,
            other.mtime_ns,
            other.inode,
        )


def raw_file(path: Path, with_hash: bool = False) -> RawFile:
    """The fingerprint of a raw day file (rows from its footer; the SHA-256 when asked)."""
    stat = path.stat()
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if with_hash else ""
    rows = pq.read_metadata(path).num_rows
    return RawFile(rows, stat.st_size, stat.st_mtime_ns, stat.st_ino, digest)


def lake_days(lake_root: Path) -> dict[date, dict[str, Path]]:
    """Every day of the lake's raw tables, with its file per table."""
    found: dict[date, dict[str, Path]] = {}
    for table in RAW_TABLES:
        for day, path in day_files(lake_root / table.name).items():
            found.setdefault(day, {})[table.name] = path
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class DayManifest:
    """What a day of the state holds and what it was built from."""

    day: date
    version: str
    rows: dict[str, int]
    raw: dict[str, RawFile]
    built_at: str
    run_id: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "day": self.day.isoformat(),
                "version": self.version,
                "rows": self.rows,
                "raw": {name: vars(f) for name, f in self.raw.items()},
                "built_at": self.built_at,
                "run_id": self.run_id,
            },
            indent=1,
            sort_keys=True,
        )

    @staticmethod
    def from_json(text: str) -> DayManifest:
        data = json.loads(text)
        return DayManifest(
            day=date.fromisoformat(data["day"]),
            version=str(data["version"]),
            rows={str(k): int(v) for k, v in data["rows"].items()},
            raw={str(k): RawFile(**v) for k, v in data["raw"].items()},
            built_at=str(data["built_at"]),
            run_id=str(data["run_id"]),
        )


def day_dir(state_root: Path, day: date) -> Path:
    return state_root / f"{DAY_PREFIX}{day.isoformat()}"


def read_manifests(state_root: Path) -> dict[date, DayManifest]:
    """Every day of the state with a readable manifest; a damaged manifest is an error naming
    its file."""
    found: dict[date, DayManifest] = {}
    if not state_root.is_dir():
        return found
    for folder in sorted(state_root.glob(f"{DAY_PREFIX}*")):
        manifest = folder / MANIFEST
        if not manifest.is_file():
            continue
        try:
            entry = DayManifest.from_json(manifest.read_text(encoding="utf-8"))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"the feature state manifest {manifest} is unreadable ({error}): delete its day "
                "folder and materialize feature_state for that day again"
            ) from error
        found[entry.day] = entry
    return found


@dataclass(frozen=True)
class StateDiff:
    """How the state differs from the lake: days to build, days whose raw files changed, days
    the lake no longer has (their state must go)."""

    missing: list[date] = field(default_factory=list)
    changed: list[date] = field(default_factory=list)
    removed: list[date] = field(default_factory=list)

    @property
    def stale(self) -> list[date]:
        """Days whose state must be (re)built from the lake."""
        return sorted(self.missing + self.changed)

    @property
    def current(self) -> bool:
        return not (self.missing or self.changed or self.removed)

    def text(self) -> str:
        parts = [
            f"{len(days)} {what} ({', '.join(d.isoformat() for d in days[:5])}"
            f"{', …' if len(days) > 5 else ''})"
            for what, days in (
                ("lake days without state", self.missing),
                ("lake days rewritten since their state was built", self.changed),
                ("state days the lake no longer has", self.removed),
            )
            if days
        ]
        return "; ".join(parts) or "the state matches the lake"


def compare_with_lake(
    state_root: Path, lake_root: Path, before: date | None = None, verify_checksums: bool = False
) -> StateDiff:
    """The days (before `before`, when given) where the state and the lake disagree."""
    manifests = read_manifests(state_root)
    lake = lake_days(lake_root)
    missing, changed = [], []
    for day, files in lake.items():
        if before is not None and day >= before:
            continue
        entry = manifests.get(day)
        if entry is None:
            missing.append(day)
            continue
        if set(entry.raw) != set(files):
            changed.append(day)
            continue
        for name, path in files.items():
            now = raw_file(path, with_hash=verify_checksums)
            recorded = entry.raw[name]
            if not now.same_file(recorded) or (verify_checksums and now.sha256 != recorded.sha256):
                changed.append(day)
                break
    removed = [d for d in manifests if d not in lake and (before is None or d < before)]
    return StateDiff(missing, changed, removed)


def split_by_day(state: Mapping[str, pa.Table]) -> dict[date, dict[str, pa.Table]]:
    """A window's state, day by day."""
    days: set[date] = set()
    for table in state.values():
        days.update(table.column("day").unique().to_pylist())
    return {
        day: {
            name: table.filter(pc.equal(table["day"], pa.scalar(day, pa.date32())))
            for name, table in state.items()
        }
        for day in sorted(days)
    }


def write_days(
    state_root: Path,
    lake_root: Path,
    state: Mapping[str, pa.Table],
    days: Iterable[date],
    run_id: str,
) -> dict[date, DayManifest]:
    """Replace the state of each of `days` with its rows of `state` (built from the lake's
    current day files, which the manifest records with their hashes); a day the lake does not
    hold loses its state. Returns the manifests written."""
    missing_tables = set(STATE_TABLES) - set(state)
    if missing_tables:
        raise ValueError(f"the feature state lacks the table(s) {sorted(missing_tables)}")
    by_day = split_by_day(state)
    lake = lake_days(lake_root)
    written: dict[date, DayManifest] = {}
    for day in sorted(set(days)):
        folder = day_dir(state_root, day)
        if day not in lake:
            if by_day.get(day) and any(t.num_rows for t in by_day[day].values()):
                raise ValueError(
                    f"feature state for {day} has rows but the lake holds no day file for it"
                )
            shutil.rmtree(folder, ignore_errors=True)
            continue
        tables = by_day.get(day) or {name: state[name].slice(0, 0) for name in STATE_TABLES}
        raw = {name: raw_file(path, with_hash=True) for name, path in lake[day].items()}
        version = f"v-{uuid.uuid4().hex}"
        target = folder / version
        target.mkdir(parents=True)
        for name in STATE_TABLES:
            pq.write_table(tables[name], target / f"{name}.parquet", compression="zstd")
        entry = DayManifest(
            day=day,
            version=version,
            rows={name: tables[name].num_rows for name in STATE_TABLES},
            raw=raw,
            built_at=datetime.now(UTC).isoformat(),
            run_id=run_id,
        )
        write_text_atomic(folder / MANIFEST, entry.to_json())
        for other in folder.iterdir():  # older versions and strays of killed runs
            if other.is_dir() and other.name != version:
                shutil.rmtree(other, ignore_errors=True)
        written[day] = entry
    return written


def remove_days(state_root: Path, days: Iterable[date]) -> None:
    """Drop the state of `days` (days the lake no longer holds)."""
    for day in days:
        shutil.rmtree(day_dir(state_root, day), ignore_errors=True)


def state_files(state_root: Path, before: date) -> dict[str, list[Path]]:
    """The current file of every state table for each day before `before`."""
    files: dict[str, list[Path]] = {name: [] for name in STATE_TABLES}
    for day, entry in read_manifests(state_root).items():
        if day >= before:
            continue
        for name in STATE_TABLES:
            files[name].append(day_dir(state_root, day) / entry.version / f"{name}.parquet")
    return files
