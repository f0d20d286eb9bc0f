"""The published scores as the app sees them: one immutable snapshot at a time, switched when
the pointer names a newer one, without a restart and without a failed request in between."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from eth_assets.scores.snapshot import (
    LABELS,
    POINTER,
    SnapshotSchemaError,
    attachment_path,
    check_served_frame,
    manifest_beside,
    read_current,
    read_manifest,
)
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
from eth_assets.serve.on_the_fly import OnTheFlyScorer, load_on_the_fly

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


class NothingPublished(FileNotFoundError):
    """No pointer in the published folder: address_scores has not published yet."""


class SnapshotUnreadable(ValueError):
    """A published snapshot that cannot be served; the message says why in words without
    paths (the cause, with them, is chained and logged)."""


def read_published(
    folder: Path, pointer: dict[str, object] | None = None
) -> tuple[pl.DataFrame, dict[str, object]]:
    """The scores and manifest the pointer names (or `pointer`, a kept snapshot's manifest),
    checked to hold what every answer reads. NothingPublished without a pointer;
    SnapshotUnreadable saying why for anything else that cannot be read."""
    try:
        if pointer is None:
            frame, manifest = read_current(folder)
        else:
            frame, manifest = pl.read_parquet(folder / str(pointer["file"])), pointer
    except FileNotFoundError as error:
        if pointer is None and not (folder / POINTER).is_file():
            raise NothingPublished(str(error)) from error
        raise SnapshotUnreadable("its scores file is missing") from error
    except json.JSONDecodeError as error:
        raise SnapshotUnreadable("the pointer to it is not valid JSON") from error
    except (TypeError, KeyError, AttributeError) as error:
        raise SnapshotUnreadable("the pointer to it does not name a snapshot file") from error
    except Exception as error:  # a Parquet reader's many errors, an I/O error
        raise SnapshotUnreadable("its scores file cannot be read") from error
    try:
        check_served_frame(frame)
    except SnapshotSchemaError as error:
        raise SnapshotUnreadable(str(error)) from error
    return frame, manifest


def load_snapshot(
    folder: Path,
    history_cache: dict[str, PastScores] | None = None,
    pointer: dict[str, object] | None = None,
) -> Snapshot:
    """The snapshot the pointer names (or `pointer`, a kept snapshot's manifest), read whole
    (scores are one row per address), with its addresses' contexts and every kept snapshot's
    scores (older files read once across loads sharing `history_cache`). NothingPublished or
    SnapshotUnreadable when its scores cannot be served; a context or on-the-fly file that
    cannot be read only leaves that part out (logged)."""
    frame, manifest = read_published(folder, pointer)
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
    except Exception as error:  # whatever a bad attachment raises
        # The scores are still served; only the context beside them is missing.
        log.warning("no address context for %s: %s", manifest.get("file"), error)
        labels = None
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


def kept_pointers(folder: Path, leave_out: str = "") -> list[dict[str, object]]:
    """Pointers to the folder's kept snapshots, newest file first (`leave_out` left out), each
    built from the manifest published beside it: what a server with nothing in memory falls
    back on when the newest snapshot cannot be read. Snapshots without one are skipped."""
    found = []
    for path in folder.glob("*.parquet"):
        if "." in path.stem or path.name == leave_out:
            continue
        try:
            manifest = read_manifest(manifest_beside(path))
            when = path.stat().st_mtime
        except (OSError, ValueError, TypeError):
            continue
        attached = {
            f.name[len(path.stem) + 1 :]: f.name for f in folder.glob(f"{path.stem}.*") if f != path
        }
        found.append((when, {**manifest, "file": path.name, "attachments": attached}))
    return [pointer for _, pointer in sorted(found, key=lambda x: x[0], reverse=True)]


@dataclass(frozen=True)
class Serving:
    """What serves and why: the snapshot, whether it is the newest published, and otherwise
    why the newest could not be read (words without paths)."""

    snapshot: Snapshot | None
    newest: bool
    problem: str  # "" when the newest published snapshot serves


class SnapshotSource:
    """The current snapshot of `folder`, reloaded when `current.json` changes.

    A request takes one `Snapshot` object and answers from it alone; a newer snapshot is read
    completely before it replaces the reference, so a switch never fails a request or mixes two
    snapshots in one answer. A snapshot that cannot be read leaves the previous one in place
    (logged); it is tried again when the pointer changes or after `retry_seconds`, not on
    every request. A process with nothing in memory falls back on the newest kept snapshot
    it can read; only when there is none does `current` raise NothingPublished.
    """

    def __init__(
        self,
        folder: Path,
        retry_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.retry_seconds, self.clock = retry_seconds, clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._history: dict[str, PastScores] = {}  # kept snapshots' scores, read once
        # The pointer that could not be served, when, and why (in words without paths).
        self._failed: tuple[tuple[int, int, int] | None, float] | None = None
        self.problem = ""

    def _pointer_stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.folder / POINTER)
        except OSError:
            return None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def _settled(self, stamp: tuple[int, int, int] | None) -> bool:
        """Whether the snapshot held now is the one to serve for the pointer's `stamp`: it
        was loaded from it, or it failed recently enough not to be tried again yet."""
        if self._snapshot is not None and stamp == self._stamp and not self.problem:
            return True
        failed = self._failed
        return (
            failed is not None
            and failed[0] == stamp
            and (self.clock() - failed[1] < self.retry_seconds)
        )

    def serving(self) -> Serving:
        """The snapshot that serves now (None before anything readable was published), whether
        it is the newest published, and why not."""
        try:
            snapshot = self.current()
        except NothingPublished:
            return Serving(None, False, self.problem)
        return Serving(snapshot, not self.problem, self.problem)

    def current(self) -> Snapshot:
        """The newest snapshot that can be served; NothingPublished (saying why in words
        without paths) when nothing readable was ever published."""
        stamp = self._pointer_stamp()
        snapshot = self._snapshot
        if self._settled(stamp):
            if snapshot is None:
                raise NothingPublished(self.problem)
            return snapshot
        # One request reloads; the others keep answering from the snapshot they have meanwhile
        # (only a process with none makes them wait).
        if not self._lock.acquire(blocking=snapshot is None):
            return snapshot  # type: ignore[return-value]
        try:
            if self._settled(stamp):
                if self._snapshot is None:
                    raise NothingPublished(self.problem)
                return self._snapshot
            return self._load(stamp)
        finally:
            self._lock.release()

    def _load(self, stamp: tuple[int, int, int] | None) -> Snapshot:
        """Load what the pointer names; on failure keep what serves, or fall back on the newest
        readable kept snapshot, and remember the failure."""
        try:
            fresh = load_snapshot(self.folder, self._history)
        except (NothingPublished, SnapshotUnreadable) as error:
            self._failed = (stamp, self.clock())
            if isinstance(error, SnapshotUnreadable):
                self.problem = f"the newest published snapshot cannot be served: {error}"
                log.warning(
                    "the snapshot %s points at cannot be served (%s: %r); materialize "
                    "address_scores again",
                    self.folder / POINTER,
                    error,
                    error.__cause__,
                )
            else:
                self.problem = "the pointer to the newest published snapshot is missing"
            if self._snapshot is None:
                self._snapshot = self._fall_back()
            if self._snapshot is None:
                if isinstance(error, NothingPublished):
                    self.problem = "nothing is published yet"
                raise NothingPublished(self.problem) from error
            log.warning("serving snapshot %s meanwhile (%s)", self._snapshot.name, self.problem)
            return self._snapshot
        self._snapshot, self._stamp, self._failed, self.problem = fresh, stamp, None, ""
        log.info("serving snapshot %s (%d addresses)", fresh.name, len(fresh.rows))
        return fresh

    def _fall_back(self) -> Snapshot | None:
        """The newest kept snapshot that can be read, for a process with none in memory."""
        for pointer in kept_pointers(self.folder):
            try:
                return load_snapshot(self.folder, self._history, pointer)
            except (NothingPublished, SnapshotUnreadable) as error:
                log.warning("kept snapshot %s cannot be served either: %s", pointer["file"], error)
        return None
