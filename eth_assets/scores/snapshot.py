"""Published snapshots: immutable Parquet files and a pointer swapped atomically.

A reader (the address page, a notebook) opens `current.json`, then the file it names; a writer
first writes a new uniquely named file, then replaces `current.json` with one rename. A reader
therefore always sees a complete snapshot, the previous one or the new one, and never waits for
the warehouse's lock. A snapshot may carry attachments (`<name>.<suffix>`: the model, the
populations behind the percentiles), written before the pointer too. Older snapshots are kept for
a while (`keep`), so a reader that has just read the pointer can still open their files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl

from eth_assets.common.files import write_atomic

POINTER = "current.json"


def publish_snapshot(
    frame: pl.DataFrame,
    folder: Path,
    name: str,
    manifest: dict[str, object],
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
    write_atomic(
        folder / POINTER,
        lambda temporary: Path(temporary).write_text(json.dumps(pointer, indent=1, default=str)),
    )
    snapshots = {p.name: p for p in folder.glob("*.parquet") if "." not in p.stem}
    older = sorted((p for p in snapshots.values() if p != path), key=lambda p: p.stat().st_mtime)
    for stale in older[: max(0, len(older) - keep)]:
        for file in folder.glob(f"{stale.stem}.*"):
            file.unlink(missing_ok=True)
    return path


def read_current(folder: Path) -> tuple[pl.DataFrame, dict[str, object]]:
    """The snapshot `current.json` names, and the pointer's manifest."""
    pointer = folder / POINTER
    if not pointer.is_file():
        raise FileNotFoundError(f"nothing published in {folder}: materialize address_scores first")
    manifest = json.loads(pointer.read_text())
    return pl.read_parquet(folder / manifest["file"]), manifest


def attachment_path(folder: Path, manifest: Mapping[str, object], suffix: str) -> Path | None:
    """The file of the snapshot's attachment `suffix`, or None when it was published without."""
    attached = manifest.get("attachments") or {}
    name = attached.get(suffix) if isinstance(attached, dict) else None
    return folder / str(name) if name else None
