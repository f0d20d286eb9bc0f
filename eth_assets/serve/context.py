"""An address's context beside its score: exposure to listed and flagged addresses, top
counterparties, activity over time, token holdings and its score in every kept snapshot.

Read once when a snapshot loads (its attachments, sorted by address with each address's row
span, and the older kept snapshots' scores); a request turns only its own address's rows into
dicts (well under a millisecond), so a load holds the interpreter for milliseconds, not
seconds, and requests keep flowing while a new snapshot is read. The shapes are the contract
the page and the API render (`Snapshot.context`); definitions in docs/exposure.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from eth_assets.scores.exposure import MEASURES, SHARES, AddressExposure
from eth_assets.scores.snapshot import (
    CONTEXT_ATTACHMENTS,
    COUNTERPARTIES,
    ENTITIES,
    EXPOSURE,
    HOLDINGS,
    MONTHLY,
    attachment_path,
    manifest_beside,
    read_manifest,
)

log = logging.getLogger(__name__)


def _float(value) -> float | None:
    return None if value is None else float(value)


def _iso(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def exposure_entry(row: Mapping[str, Any], declaration: Mapping[str, Any]) -> dict[str, object]:
    """The `exposure` part of a context from a row of the exposure table and the manifest's
    `exposure` block (label lists used, those that also trained the model, how to read)."""
    entry: dict[str, object] = {}
    for measure in MEASURES:
        total = row.get(f"{measure}_total") or 0
        entry[measure] = {
            "total": int(total) if measure.startswith("token") else float(total),
            **{share: _float(row.get(f"{measure}_{share}")) for share in SHARES},
        }
    entry["indirect_note"] = str(declaration.get("indirect_note") or "")
    entry["label_sources"] = list(declaration.get("label_sources") or [])
    entry["sources_also_training_labels"] = list(
        declaration.get("sources_also_training_labels") or []
    )
    entry["note"] = str(declaration.get("note") or "")
    return entry


def _by_address(frame: pl.DataFrame) -> dict[str, list[dict[str, object]]]:
    grouped: dict[str, list[dict[str, object]]] = {}
    for row in frame.iter_rows(named=True):
        grouped.setdefault(row["address"], []).append(row)
    return grouped


def counterparty_lists(
    frame: pl.DataFrame,
    labels: Mapping[str, list[dict[str, object]]],
    entities: Mapping[str, list[str]],
    scores: Mapping[str, Mapping[str, object]],
) -> dict[str, dict[str, list[dict[str, object]]]]:
    """Per address: its top counterparties by value and by count (the ranks of the
    counterparties table), each with its label-list entries, entity kinds and, when the
    snapshot scores it, band and probability."""
    lists: dict[str, dict[str, list[dict[str, object]]]] = {}
    for address, rows in _by_address(frame).items():
        entries = []
        for row in rows:
            other = str(row["counterparty"])
            scored = scores.get(other)
            entry = {
                "address": other,
                "eth_in": float(row["eth_in"]),
                "eth_out": float(row["eth_out"]),
                "transactions_in": int(row["transactions_in"]),
                "transactions_out": int(row["transactions_out"]),
                "token_transfers_in": int(row["token_transfers_in"]),
                "token_transfers_out": int(row["token_transfers_out"]),
                "label_lists": list(labels.get(other) or []),
                "entity": list(entities.get(other) or []),
                "band": scored.get("band") if scored else None,
                "probability": _float(scored.get("probability")) if scored else None,
            }
            entries.append((row["rank_by_value"], row["rank_by_count"], entry))
        by_value = sorted((x for x in entries if x[0] is not None), key=lambda x: x[0])
        by_count = sorted((x for x in entries if x[1] is not None), key=lambda x: x[1])
        lists[address] = {
            "by_value": [entry for _, _, entry in by_value],
            "by_count": [entry for _, _, entry in by_count],
        }
    return lists


def monthly_lists(frame: pl.DataFrame) -> dict[str, list[dict[str, object]]]:
    """Per address: its activity per month, oldest first."""
    return {
        address: [
            {
                "month": str(row["month"]),
                "transactions_in": int(row["transactions_in"]),
                "transactions_out": int(row["transactions_out"]),
                "eth_in": float(row["eth_in"]),
                "eth_out": float(row["eth_out"]),
                "token_transfers_in": int(row["token_transfers_in"]),
                "token_transfers_out": int(row["token_transfers_out"]),
            }
            for row in sorted(rows, key=lambda r: str(r["month"]))
        ]
        for address, rows in _by_address(frame).items()
    }


def holding_lists(frame: pl.DataFrame) -> dict[str, list[dict[str, object]]]:
    """Per address: its token balances, most transfers first; a balance is a float in tokens
    where the decimals are known, else the exact raw integer as text ("raw units")."""
    return {
        address: [
            {
                "token": str(row["token"]),
                "name": row["name"] or row["symbol"],
                "balance": float(row["balance"])
                if row["units"] == "tokens"
                else str(row["balance_raw"]),
                "units": str(row["units"]),
            }
            for row in sorted(rows, key=lambda r: int(r["rank"]))
        ]
        for address, rows in _by_address(frame).items()
    }


def _spans(frame: pl.DataFrame) -> dict[str, tuple[int, int]]:
    """address → (first row, row after its last) of a frame sorted by address."""
    if frame.height == 0:
        return {}
    bounds = (
        frame.select("address")
        .with_row_index("row")
        .group_by("address", maintain_order=True)
        .agg(start=pl.col("row").min(), end=pl.col("row").max() + 1)
    )
    return {
        a: (int(b), int(c))
        for a, b, c in zip(bounds["address"], bounds["start"], bounds["end"], strict=True)
    }


@dataclass(frozen=True)
class AddressContexts:
    """Per-address exposure, counterparties, activity and holdings: the frames sorted by
    address with each address's span, turned into dicts only for the address asked about."""

    frames: AddressExposure
    spans: dict[str, dict[str, tuple[int, int]]]  # frame name → address → row span
    declaration: Mapping[str, object]
    labels: Mapping[str, list[dict[str, object]]]
    entities: Mapping[str, list[str]]
    scores: Mapping[str, Mapping[str, object]]

    @classmethod
    def empty(cls) -> AddressContexts:
        """Contexts of no address (every `parts` is None)."""
        nothing = pl.DataFrame(schema={"address": pl.Utf8})
        frames = AddressExposure(nothing, nothing, nothing, nothing)
        return contexts_from_frames(frames, {}, {}, {}, {})

    def _rows(self, name: str, address: str) -> pl.DataFrame:
        frame: pl.DataFrame = getattr(self.frames, name)
        start, end = self.spans[name].get(address, (0, 0))
        return frame.slice(start, end - start)

    def parts(self, address: str) -> dict[str, object] | None:
        """The context of `address` but its score history; None when it has no exposure row."""
        exposure = self._rows("exposure", address)
        if exposure.height == 0:
            return None
        row = exposure.row(0, named=True)
        counterparties = counterparty_lists(
            self._rows("counterparties", address), self.labels, self.entities, self.scores
        )
        return {
            "exposure": exposure_entry(row, self.declaration),
            "counterparties": counterparties.get(address) or {"by_value": [], "by_count": []},
            "activity": {
                "first_seen": _iso(row.get("first_seen")),
                "last_seen": _iso(row.get("last_seen")),
                "monthly": monthly_lists(self._rows("monthly", address)).get(address, []),
            },
            "holdings": holding_lists(self._rows("holdings", address)).get(address, []),
        }


def contexts_from_frames(
    frames: AddressExposure,
    declaration: Mapping[str, object],
    labels: Mapping[str, list[dict[str, object]]],
    entities: Mapping[str, list[str]],
    scores: Mapping[str, Mapping[str, object]],
) -> AddressContexts:
    """The per-address contexts of the published (or on-the-fly) frames."""
    names = ("exposure", "counterparties", "monthly", "holdings")
    ordered = AddressExposure(
        **{name: getattr(frames, name).sort("address", maintain_order=True) for name in names}
    )
    return AddressContexts(
        frames=ordered,
        spans={name: _spans(getattr(ordered, name)) for name in names},
        declaration=declaration,
        labels=labels,
        entities=entities,
        scores=scores,
    )


def read_label_hits(path: Path) -> dict[str, list[dict[str, object]]]:
    """address → its label-list entries, from the snapshot's labels.parquet."""
    labels = pl.read_parquet(path)
    return dict(zip(labels["address"], labels["label_hits"].to_list(), strict=True))


def read_entities(folder: Path, manifest: Mapping[str, object]) -> dict[str, list[str]]:
    """address → entity kinds, from the snapshot's entities.parquet (empty without one)."""
    path = attachment_path(folder, manifest, ENTITIES)
    if path is None or not path.is_file():
        return {}
    frame = pl.read_parquet(path)
    return dict(zip(frame["address"], frame["kinds"].to_list(), strict=True))


def load_contexts(
    folder: Path,
    manifest: Mapping[str, object],
    labels: Mapping[str, list[dict[str, object]]],
    entities: Mapping[str, list[str]],
    scores: Mapping[str, Mapping[str, object]],
) -> AddressContexts | None:
    """The contexts of the snapshot's addresses; None when it was published without the
    exposure attachments."""
    paths = {suffix: attachment_path(folder, manifest, suffix) for suffix in CONTEXT_ATTACHMENTS}
    if any(path is None or not path.is_file() for path in paths.values()):
        return None
    frames = AddressExposure(
        exposure=pl.read_parquet(paths[EXPOSURE]),
        counterparties=pl.read_parquet(paths[COUNTERPARTIES]),
        monthly=pl.read_parquet(paths[MONTHLY]),
        holdings=pl.read_parquet(paths[HOLDINGS]),
    )
    declaration = manifest.get("exposure")
    return contexts_from_frames(
        frames, declaration if isinstance(declaration, dict) else {}, labels, entities, scores
    )


# Score history: every kept snapshot of the folder, read once.


@dataclass(frozen=True)
class PastScores:
    """One published snapshot's scores (address → probability, band) and manifest facts."""

    name: str
    published_at: str | None
    as_of: str | None
    model: str | None
    when: datetime  # published_at, else the file's modification time: the history's order
    scores: dict[str, tuple[float | None, str]]


def _when(published_at: object, path: Path) -> datetime:
    if isinstance(published_at, str):
        try:
            parsed = datetime.fromisoformat(published_at)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def read_past_scores(path: Path, manifest: Mapping[str, object] | None = None) -> PastScores:
    """A snapshot file's scores, with its manifest (given, else its manifest.json attachment
    beside it, else none)."""
    if manifest is None:
        beside = manifest_beside(path)
        manifest = read_manifest(beside) if beside.is_file() else {}
    frame = pl.read_parquet(path, columns=["address", "probability", "band"])
    published_at = manifest.get("published_at")
    return PastScores(
        name=path.name,
        published_at=str(published_at) if published_at is not None else None,
        as_of=str(manifest["as_of"]) if manifest.get("as_of") is not None else None,
        model=str(manifest["model"]) if manifest.get("model") is not None else None,
        when=_when(published_at, path),
        scores={
            a: (p, str(b))
            for a, p, b in zip(frame["address"], frame["probability"], frame["band"], strict=True)
        },
    )


def history_entry(past: PastScores, probability: float | None, band: str) -> dict[str, object]:
    """One entry of an address's score history."""
    return {
        "snapshot": past.name,
        "published_at": past.published_at,
        "as_of": past.as_of,
        "model": past.model,
        "probability": _float(probability),
        "band": band,
    }


def kept_snapshots(
    folder: Path, manifest: Mapping[str, object], cache: dict[str, PastScores] | None = None
) -> list[PastScores]:
    """The folder's kept snapshots up to the current one (a newer file being published is left
    out), oldest first; each file read once across calls sharing `cache` (files never change)."""
    cache = cache if cache is not None else {}
    current = str(manifest.get("file", ""))
    found: list[PastScores] = []
    for path in sorted(folder.glob("*.parquet")):
        if "." in path.stem:  # an attachment
            continue
        if path.name == current:
            found.append(read_past_scores(path, manifest))
            continue
        if path.name not in cache:
            try:
                cache[path.name] = read_past_scores(path)
            except (OSError, ValueError, TypeError, pl.exceptions.PolarsError) as error:
                log.warning("score history leaves out %s: %s", path.name, error)
                continue
        found.append(cache[path.name])
    for name in set(cache) - {p.name for p in found}:
        if not (folder / name).is_file():
            del cache[name]
    found.sort(key=lambda p: p.when)
    mine = [p for p in found if p.name == current]
    return [p for p in found if not mine or p.when <= mine[0].when]


def score_histories(snapshots: list[PastScores]) -> dict[str, list[dict[str, object]]]:
    """Per address: its entry in each snapshot that holds it, oldest first."""
    histories: dict[str, list[dict[str, object]]] = {}
    for past in snapshots:
        for address, (probability, band) in past.scores.items():
            histories.setdefault(address, []).append(history_entry(past, probability, band))
    return histories
