"""The published scores as the app sees them: one immutable snapshot at a time, switched when
the pointer names a newer one, without a restart and without a failed request in between."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from eth_assets.publish import POINTER, attachment_path, read_current
from eth_assets.serve.context import (
    AddressContexts,
    PastScores,
    history_entry,
    kept_snapshots,
    load_contexts,
    read_entities,
    read_label_hits,
    score_histories,
)
from eth_assets.serve.on_the_fly import LABELS, OnTheFlyScorer, load_on_the_fly

log = logging.getLogger(__name__)


class ScoreRows(Mapping[str, dict[str, object]]):
    """The snapshot's rows by address, each turned into a dict only when asked for: a load
    indexes the addresses (milliseconds) instead of converting every row (the reasons'
    records make that a large share of a second), so requests keep flowing while it loads."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self._index = dict(zip(frame["address"].to_list(), range(frame.height), strict=True))
        # What counterparties show of a scored address, without converting its whole row.
        self.bands: dict[str, dict[str, object]] = {
            a: {"band": b, "probability": p}
            for a, b, p in zip(frame["address"], frame["band"], frame["probability"], strict=True)
        }

    def __getitem__(self, address: str) -> dict[str, object]:
        return self.frame.row(self._index[address], named=True)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, address: object) -> bool:
        return address in self._index


@dataclass(frozen=True)
class Snapshot:
    """One published snapshot: its manifest, a row per address, the scorer of addresses it
    lacks (None, with `on_the_fly_note` saying why, when the store does not allow it, or with
    `on_the_fly_fault` saying why in words without paths when a file it needs could not be
    read), and the addresses' contexts and score histories, read at load."""

    manifest: dict[str, object]
    rows: Mapping[str, dict[str, object]]
    on_the_fly: OnTheFlyScorer | None = None
    on_the_fly_note: str = ""
    on_the_fly_fault: str = ""
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    contexts: AddressContexts | None = None  # None: published without the exposure files
    history: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    current: PastScores | None = None  # this snapshot as a score-history entry names it

    @property
    def name(self) -> str:
        return str(self.manifest.get("file", ""))

    def get(self, address: str) -> dict[str, object] | None:
        return self.rows.get(address)

    def context(self, address: str) -> dict[str, object] | None:
        """What the page shows beside the score of `address` (lower-case): `exposure`,
        `counterparties`, `activity`, `holdings` and `score_history` (docs/exposure.md).

        An address of the snapshot: looked up in what was read at load (no file read). An
        address the snapshot lacks: computed from the lake by the on-the-fly scorer (its
        `context`, cached), its history being the older kept snapshots holding it plus its
        on-the-fly score under this snapshot's name. None when the snapshot was published
        without the exposure attachments, or when the address is neither in the snapshot nor
        scored on the fly (no history, or a store of chosen histories). LakeUnavailable when
        the lake cannot be read for it: an answer without its context would look complete.
        The lists are shared between requests: never change them."""
        if self.contexts is None:
            return None
        parts = self.contexts.parts(address)
        if parts is not None:
            return {**parts, "score_history": self.history.get(address, [])}
        if self.on_the_fly is None:
            return None
        parts = self.on_the_fly.context(address)
        row = self.on_the_fly.score([address]).get(address) if parts is not None else None
        if parts is None:
            return None
        history = list(self.history.get(address, []))
        if row is not None and self.current is not None:
            history.append(history_entry(self.current, row.get("probability"), str(row["band"])))
        return {**parts, "score_history": history}


def fault_words(error: BaseException) -> str:
    """Why the on-the-fly scorer could not be loaded, in words without paths (the error with
    its paths goes to the server log)."""
    if isinstance(error, FileNotFoundError):
        return "a file of the snapshot that on-the-fly scoring needs is missing"
    return "a model file of the snapshot that on-the-fly scoring needs cannot be read"


def load_snapshot(folder: Path, history_cache: dict[str, PastScores] | None = None) -> Snapshot:
    """The snapshot the pointer names, read whole (scores are one row per address), with its
    addresses' contexts and every kept snapshot's scores (older files read once across loads
    sharing `history_cache`)."""
    frame, manifest = read_current(folder)
    rows = ScoreRows(frame)
    contexts, history, current = None, {}, None
    labels, entities = None, {}
    try:
        labels_path = attachment_path(folder, manifest, LABELS)
        if labels_path is not None and labels_path.is_file():
            labels = read_label_hits(labels_path)
        entities = read_entities(folder, manifest)
        contexts = load_contexts(folder, manifest, labels or {}, entities, rows.bands)
        snapshots = kept_snapshots(folder, manifest, history_cache)
        history = score_histories(snapshots)
        current = next((p for p in snapshots if p.name == manifest.get("file")), None)
    except (OSError, ValueError, TypeError, pl.exceptions.PolarsError) as error:
        # The scores are still served; only the context beside them is missing.
        log.warning("no address context for %s: %s", manifest.get("file"), error)
    fault = ""
    try:
        scorer, note = load_on_the_fly(folder, manifest, frame, rows.bands, labels, entities)
    except Exception as error:  # whatever a bad file raises (a broken pickle: anything)
        # The scores are still served; only addresses outside them lose the on-the-fly path.
        log.warning("on-the-fly scoring off for %s: %s", manifest.get("file"), error)
        scorer, note, fault = None, "", fault_words(error)
    return Snapshot(
        manifest=manifest,
        rows=rows,
        on_the_fly=scorer,
        on_the_fly_note=note,
        on_the_fly_fault=fault,
        contexts=contexts,
        history=history,
        current=current,
    )


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
        self._history: dict[str, PastScores] = {}  # kept snapshots' scores, read once

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
                fresh = load_snapshot(self.folder, self._history)
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
