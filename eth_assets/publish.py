"""Published snapshots: immutable Parquet files and a pointer swapped atomically.

A reader (the address page, a notebook) opens `current.json`, then the file it names; a writer
first writes a new uniquely named file, then replaces `current.json` with one rename. A reader
therefore always sees a complete snapshot, the previous one or the new one, and never waits for
the warehouse's lock. Older snapshots are kept for a while (`keep`), so a reader that has just
read the pointer can still open its file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import polars as pl

POINTER = "current.json"


def _atomic_write(path: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def publish_snapshot(
    frame: pl.DataFrame, folder: Path, name: str, manifest: dict[str, object], keep: int = 5
) -> Path:
    """Write `frame` as `<folder>/<name>.parquet`, point `current.json` at it (with
    `manifest`), and remove all but the `keep` newest other snapshots; the file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    if path.exists():
        raise FileExistsError(f"snapshot {path} exists already: snapshots are never rewritten")
    _atomic_write(path, lambda temporary: frame.write_parquet(temporary, compression="zstd"))
    pointer = {"file": path.name, "rows": frame.height, **manifest}
    _atomic_write(
        folder / POINTER,
        lambda temporary: Path(temporary).write_text(json.dumps(pointer, indent=1, default=str)),
    )
    older = sorted(
        (p for p in folder.glob("*.parquet") if p != path), key=lambda p: p.stat().st_mtime
    )
    for stale in older[: max(0, len(older) - keep)]:
        stale.unlink(missing_ok=True)
    return path


def read_current(folder: Path) -> tuple[pl.DataFrame, dict[str, object]]:
    """The snapshot `current.json` names, and the pointer's manifest."""
    pointer = folder / POINTER
    if not pointer.is_file():
        raise FileNotFoundError(f"nothing published in {folder}: materialize address_scores first")
    manifest = json.loads(pointer.read_text())
    return pl.read_parquet(folder / manifest["file"]), manifest
