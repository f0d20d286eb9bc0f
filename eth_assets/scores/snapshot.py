"""The published snapshot, the one contract between address_scores and the address page.

Both sides import this module: the score row's schema (each column with its polars dtype), the
manifest (`Manifest`, read and written here), the attachment names and the folder's layout.

Layout: immutable Parquet files and a pointer swapped atomically. A reader (the address page, a
notebook) opens `current.json`, then the file it names; a writer first writes a new uniquely
named file, then replaces `current.json` with one rename. A reader therefore always sees a
complete snapshot, the previous one or the new one, and never waits for the warehouse's lock. A
snapshot may carry attachments (`<name>.<suffix>`: the model, the populations behind the
percentiles), written before the pointer too. Older snapshots are kept for a while (`keep`), so
a reader that has just read the pointer can still open their files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypedDict

import polars as pl

from eth_assets.common.files import write_atomic
from eth_assets.models.ml.explain import REASON_TYPE
from eth_assets.scores.exposure import LABEL_HIT

POINTER = "current.json"

# The snapshot's attachments (suffix of `<name>.<suffix>` → what it holds).
# What the on-the-fly scorer reads.
MODEL = "model.pkl"  # the IllicitModel that scored the snapshot
PROFILES = "profiles.pkl"  # the investor-profile model
CLEANING = "cleaning.json"  # the fitted cleaning of the model's features
POPULATIONS = "populations.parquet"  # cleaned feature values the percentiles are measured against
LABELS = "labels.parquet"  # label-list entries per listed address
TYPE_MODEL = "illicit_type.pkl"  # only when illicit_type_model learned one: else types stay NULL
ON_THE_FLY_ATTACHMENTS: tuple[str, ...] = (MODEL, PROFILES, CLEANING, POPULATIONS, LABELS)
# What the address context reads.
EXPOSURE = "exposure.parquet"  # one row per address: totals and shares, first/last seen
COUNTERPARTIES = "counterparties.parquet"  # top counterparties per address by value and count
MONTHLY = "monthly.parquet"  # activity per address and month
HOLDINGS = "holdings.parquet"  # non-zero token balances per address
ENTITIES = "entities.parquet"  # entity kinds (exchange, …) by address
MANIFEST = "manifest.json"  # the snapshot's manifest, kept beside it for the score history
CONTEXT_ATTACHMENTS: tuple[str, ...] = (EXPOSURE, COUNTERPARTIES, MONTHLY, HOLDINGS)

# One row per address: every column of a published snapshot, in order, with its dtype.
SCORE_SCHEMA: dict[str, pl.DataType] = {
    "address": pl.Utf8(),
    "has_activity": pl.Boolean(),
    "probability": pl.Float64(),
    "probability_low": pl.Float64(),
    "probability_high": pl.Float64(),
    "raw_probability": pl.Float64(),
    "is_flagged": pl.Boolean(),
    "band": pl.Utf8(),
    "illicit_type": pl.Utf8(),
    "illicit_type_probability": pl.Float64(),
    "threshold": pl.Float64(),
    "reasons": pl.List(pl.Utf8),
    "reason_features": pl.List(pl.Utf8),
    "reason_details": pl.List(REASON_TYPE),
    "profile_id": pl.Int32(),
    "profile_name": pl.Utf8(),
    "profile_sets_apart": pl.Utf8(),
    "profile_values": pl.Utf8(),  # JSON object: profile feature → value
    "label_hits": pl.List(LABEL_HIT),
    "is_labelled_illicit": pl.Boolean(),
    "model": pl.Utf8(),
    "model_as_of": pl.Utf8(),
    "model_chain_source": pl.Utf8(),
    "as_of": pl.Utf8(),  # ISO timestamp of the features' cut-off
    "chain_source": pl.Utf8(),
    "scored_at": pl.Datetime("us", "UTC"),
}
# The columns the scorer computes (`score_addresses`, `score_new_addresses`), before the
# profile, labels and run's constants are joined on.
SCORED_COLUMNS: tuple[str, ...] = tuple(SCORE_SCHEMA)[: tuple(SCORE_SCHEMA).index("profile_id")]
# What every answer reads of a row; the others may be missing from older snapshots.
READ_BY_EVERY_ANSWER: tuple[str, ...] = (
    "address",
    "has_activity",
    "probability",
    "is_flagged",
    "band",
)


class SnapshotSchemaError(ValueError):
    """A score frame that does not match `SCORE_SCHEMA`; the message names each column."""


def _same_dtype(actual: pl.DataType, expected: pl.DataType) -> bool:
    """Equal dtypes; any integer width matches an integer, and an all-null column anything."""
    if actual == pl.Null:
        return True
    if actual.is_integer() and expected.is_integer():
        return True
    return actual == expected


def schema_problems(frame: pl.DataFrame, required: tuple[str, ...]) -> list[str]:
    """What is wrong with `frame` against `SCORE_SCHEMA`: each of `required` missing, each
    column of the schema of another dtype, each column the schema does not know."""
    problems = [f"{name} is missing" for name in required if name not in frame.columns]
    for name, dtype in frame.schema.items():
        expected = SCORE_SCHEMA.get(name)
        if expected is None:
            problems.append(f"{name} is not a score column")
        elif not _same_dtype(dtype, expected):
            problems.append(f"{name} is {dtype}, not {expected}")
    return problems


def check_published_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` in the schema's column order, or SnapshotSchemaError naming every column that is
    missing, extra or mistyped: what the producer checks before publishing."""
    problems = schema_problems(frame, tuple(SCORE_SCHEMA))
    if problems:
        raise SnapshotSchemaError(
            "the scores do not match the snapshot schema: " + "; ".join(problems)
        )
    return frame.select(list(SCORE_SCHEMA))


def check_served_frame(frame: pl.DataFrame) -> None:
    """SnapshotSchemaError naming each column every answer reads that is missing, and each
    present column of another dtype: what the page checks before serving a snapshot."""
    problems = [
        p for p in schema_problems(frame, READ_BY_EVERY_ANSWER) if not p.endswith("score column")
    ]
    if problems:
        raise SnapshotSchemaError(
            "its scores do not match the snapshot schema: " + "; ".join(problems)
        )


class OnTheFlyTerms(TypedDict):
    """Whether the page may score addresses the snapshot lacks from the lake, and how."""

    allowed: bool
    lake: str | None  # the lake's folder
    as_of: str | None  # ISO timestamp of the features' cut-off
    excluded_tokens: list[str]  # label-broadcast tokens left out of the features
    why_not: str  # "" when allowed


class Manifest(TypedDict, total=False):
    """What `current.json` (and `<name>.manifest.json` beside each snapshot) says of a snapshot.

    `file`, `rows` and `attachments` (suffix → file name) are set by `publish_snapshot`; the
    rest by address_scores. Older snapshots may lack any key, so readers use `.get`."""

    file: str
    rows: int
    attachments: dict[str, str]
    model: str  # "<registered model> v<n>" or "local <path>"
    as_of: str  # ISO timestamp of the features' cut-off
    chain_source: str
    dagster_run_id: str
    published_at: str  # ISO timestamp
    bands: list[list[object]]  # [band, lower bound of its probability]
    threshold: float
    on_the_fly: OnTheFlyTerms
    exposure: dict[str, object]  # the exposure declaration (docs/exposure.md)


def write_manifest(path: str | Path, manifest: Mapping[str, object]) -> None:
    """Write `manifest` as JSON to `path` (a temporary path: callers write atomically)."""
    Path(path).write_text(json.dumps(manifest, indent=1, default=str))


def read_manifest(path: Path) -> Manifest:
    """The manifest at `path`; ValueError when it is not JSON, TypeError when not an object."""
    manifest = json.loads(path.read_text())
    if not isinstance(manifest, dict):
        raise TypeError(f"{path.name} does not hold a JSON object")
    return Manifest(**manifest)  # type: ignore[typeddict-item]


def publish_snapshot(
    frame: pl.DataFrame,
    folder: Path,
    name: str,
    manifest: Mapping[str, object],
    keep: int = 5,
    attachments: Mapping[str, Callable[[str], None]] | None = None,
) -> Path:
    """Write `frame` as `<folder>/<name>.parquet` and each attachment (suffix → a writer given a
    temporary path) as `<folder>/<name>.<suffix>`, then point `current.json` at them (with
    `manifest`), and remove all but the `keep` newest other snapshots; the frame's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    if path.exists() or any(folder.glob(f"{name}.*")):
        raise FileExistsError(f"snapshot {path} exists already: snapshots are never rewritten")
    attached: dict[str, str] = {}
    for suffix, write in (attachments or {}).items():
        target = folder / f"{name}.{suffix}"
        write_atomic(target, write)
        attached[suffix] = target.name
    write_atomic(path, lambda temporary: frame.write_parquet(temporary, compression="zstd"))
    pointer = {"file": path.name, "rows": frame.height, "attachments": attached, **manifest}
    write_atomic(folder / POINTER, lambda temporary: write_manifest(temporary, pointer))
    snapshots = {p.name: p for p in folder.glob("*.parquet") if "." not in p.stem}
    older = sorted((p for p in snapshots.values() if p != path), key=lambda p: p.stat().st_mtime)
    for stale in older[: max(0, len(older) - keep)]:
        for file in folder.glob(f"{stale.stem}.*"):
            file.unlink(missing_ok=True)
    return path


def read_current(folder: Path) -> tuple[pl.DataFrame, Manifest]:
    """The snapshot `current.json` names, and the pointer's manifest."""
    pointer = folder / POINTER
    if not pointer.is_file():
        raise FileNotFoundError(f"nothing published in {folder}: materialize address_scores first")
    manifest = read_manifest(pointer)
    return pl.read_parquet(folder / manifest["file"]), manifest


def attachment_path(folder: Path, manifest: Mapping[str, object], suffix: str) -> Path | None:
    """The file of the snapshot's attachment `suffix`, or None when it was published without."""
    attached = manifest.get("attachments") or {}
    name = attached.get(suffix) if isinstance(attached, dict) else None
    return folder / str(name) if name else None


def manifest_beside(snapshot: Path) -> Path:
    """Where the manifest of the snapshot file `snapshot` is kept beside it."""
    return snapshot.with_name(f"{snapshot.stem}.{MANIFEST}")
