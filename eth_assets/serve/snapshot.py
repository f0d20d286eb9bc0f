"""The published scores as the app sees them: one immutable snapshot at a time, switched when
the pointer names a newer one, without a restart and without a failed request in between."""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from eth_assets.publish import POINTER, read_current
from eth_assets.serve.on_the_fly import OnTheFlyScorer, load_on_the_fly

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """One published snapshot: its manifest, a row per address, and the scorer of addresses it
    lacks (None, with `on_the_fly_note` saying why, when the store does not allow it)."""

    manifest: dict[str, object]
    rows: dict[str, dict[str, object]]
    on_the_fly: OnTheFlyScorer | None = None
    on_the_fly_note: str = ""
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def name(self) -> str:
        return str(self.manifest.get("file", ""))

    def get(self, address: str) -> dict[str, object] | None:
        return self.rows.get(address)


def load_snapshot(folder: Path) -> Snapshot:
    """The snapshot the pointer names, read whole (scores are one row per address)."""
    frame, manifest = read_current(folder)
    rows = {row["address"]: row for row in frame.iter_rows(named=True)}
    try:
        scorer, note = load_on_the_fly(folder, manifest, rows)
    except (OSError, ValueError, TypeError, pl.exceptions.PolarsError) as error:
        # The scores are still served; only addresses outside them lose the on-the-fly path.
        log.warning("on-the-fly scoring off for %s: %s", manifest.get("file"), error)
        scorer, note = None, f"its model files could not be read ({error})"
    return Snapshot(manifest=manifest, rows=rows, on_the_fly=scorer, on_the_fly_note=note)


class SnapshotSource:
    """The current snapshot of `folder`, reloaded when `current.json` changes.

    A request takes one `Snapshot` object and answers from it alone; a newer snapshot is read
    completely before it replaces the reference, so a switch never fails a request or mixes two
    snapshots in one answer. A snapshot that cannot be read leaves the previous one in place.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._stamp: tuple[int, int, int] | None = None

    def _pointer_stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.folder / POINTER)
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def current(self) -> Snapshot:
        """The newest complete snapshot; FileNotFoundError when nothing was ever published."""
        stamp = self._pointer_stamp()
        snapshot = self._snapshot
        if snapshot is not None and stamp == self._stamp:
            return snapshot
        # One request reloads; the others keep answering from the snapshot they have meanwhile
        # (only the very first load makes them wait).
        if not self._lock.acquire(blocking=snapshot is None):
            return snapshot  # type: ignore[return-value]
        try:
            if self._snapshot is not None and stamp == self._stamp:
                return self._snapshot
            try:
                fresh = load_snapshot(self.folder)
            except (FileNotFoundError, json.JSONDecodeError, pl.exceptions.PolarsError) as error:
                if self._snapshot is None:
                    raise FileNotFoundError(
                        f"no readable snapshot in {self.folder}: materialize address_scores "
                        f"first ({error})"
                    ) from error
                log.warning("keeping snapshot %s: %s", self._snapshot.name, error)
                return self._snapshot
            self._snapshot, self._stamp = fresh, stamp
            log.info("serving snapshot %s (%d addresses)", fresh.name, len(fresh.rows))
            return fresh
        finally:
            self._lock.release()
