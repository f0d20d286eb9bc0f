"""Scoring, on request, an address the published snapshot lacks but the lake holds.

Its features come from the pipeline's own two queries over the lake, with that address as the
universe, the snapshot's cut-off and the same label-broadcast tokens left out; the snapshot's
model, fitted cleaning and profile model score it (and the type model, when the snapshot carries
one, names a flagged address's likely type); its reasons' percentiles are measured against
the populations published with the snapshot. Its context (exposure, counterparties, activity,
holdings: `OnTheFlyScorer.context`) comes from the pipeline's exposure SQL and functions the same
way, with the snapshot's listed and flagged addresses. Only a store that holds whole histories
allows it: an address that merely traded with the universe of a sample of chosen accounts has a
partial history there, and scoring it would be scoring a fragment (decided when publishing, by
`scores.publication.on_the_fly_terms`).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import numpy as np
import polars as pl

from eth_assets.chain.schemas import TRANSACTIONS
from eth_assets.common.duckdb_utils import connect
from eth_assets.common.files import load_pickle
from eth_assets.features.as_of import parse_as_of
from eth_assets.features.feature_tables import features_of_addresses
from eth_assets.lake.compaction import LakeFiles, read_plan
from eth_assets.models.dataset_rules import with_flags
from eth_assets.models.ml.classifier import IllicitModel
from eth_assets.models.ml.cleaning import Cleaning, cleaning_from_json
from eth_assets.models.ml.illicit_type import IllicitTypeModel
from eth_assets.models.ml.profiles import ProfileModel
from eth_assets.scores.exposure import exposure_of_addresses
from eth_assets.scores.scoring import Populations, populations_from_frame, score_new_addresses
from eth_assets.scores.snapshot import (
    CLEANING,
    LABELS,
    MODEL,
    ON_THE_FLY_ATTACHMENTS,
    POPULATIONS,
    PROFILES,
    TYPE_MODEL,
    attachment_path,
)
from eth_assets.serve.context import contexts_from_frames, read_label_hits

CACHE_SIZE = 4096
T = TypeVar("T")


class LakeUnavailable(RuntimeError):
    """The lake cannot be read just now (gone, empty, a file unreadable): the address page
    answers 503 and caches nothing, so the next request tries again."""


def read_lake(query: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    """`query` on a fresh DuckDB connection, retried once if a day file of the lake was swapped
    while it ran (a compaction or a re-extract replaces files atomically)."""
    for attempt in (1, 2):
        con = connect()
        try:
            return query(con)
        except duckdb.IOException:
            if attempt == 2:
                raise
        finally:
            con.close()
    raise AssertionError("unreachable")


@dataclass
class OnTheFlyScorer:
    """The snapshot's model, cleaning, profiles and populations, and the lake to read."""

    model: IllicitModel
    profiles: ProfileModel
    cleaning: Cleaning
    populations: Populations
    lake: LakeFiles
    as_of: datetime
    excluded_tokens: tuple[str, ...]
    label_hits: dict[str, list[dict[str, object]]]  # address → {source, category, name, date}
    descriptions: dict[int, str]
    constants: dict[str, object]  # model, model_as_of, as_of, chain_source, … of every row
    reasons: int = 3
    type_model: IllicitTypeModel | None = None
    # What an address's context needs from the snapshot: the addresses its model flags, the
    # entity kinds, its rows (counterparties' bands) and the manifest's `exposure` block.
    flagged: frozenset[str] = frozenset()
    entities: Mapping[str, list[str]] = field(default_factory=dict)
    scored_rows: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    exposure_terms: Mapping[str, object] = field(default_factory=dict)
    _cache: OrderedDict[str, dict[str, object] | None] = field(default_factory=OrderedDict)
    _contexts: OrderedDict[str, dict[str, object] | None] = field(default_factory=OrderedDict)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock)
    # Scoring reads the lake and runs the model: at most two at a time on two cores, so a
    # burst of unknown addresses cannot starve the answers from the snapshot.
    _running: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(2)
    )

    def lake_problem(self) -> str | None:
        """Why the lake cannot be read just now (its folder is not there, or it holds no
        transactions: never true of the lake a snapshot was computed from), or None."""
        root = self.lake.root
        try:
            if not root.is_dir():
                return f"the lake folder {root} is not there"
            plan = read_plan(root / TRANSACTIONS.name)
        except OSError as error:
            return f"the lake folder {root} cannot be listed: {error}"
        if not plan.day_files and not plan.compact_files:
            return f"the lake folder {root} holds no {TRANSACTIONS.name} files"
        return None

    def _read(self, read: Callable[[], T], what: str) -> T:
        """`read()` of the lake, LakeUnavailable (with the cause, for the server log) when it
        fails or when the lake is not what the snapshot was computed from."""
        try:
            return read()
        except (duckdb.Error, OSError) as error:
            raise LakeUnavailable(f"{what}: {error}") from error

    def _confirm_no_history(self, what: str) -> None:
        """Before 'no history' is believed and cached: the lake must be there to say so."""
        problem = self.lake_problem()
        if problem is not None:
            raise LakeUnavailable(f"{what}: {problem}")

    def score(self, addresses: Sequence[str]) -> dict[str, dict[str, object] | None]:
        """Per address (lower-case): a row shaped like the snapshot's, or None when the lake
        holds no transaction or token transfer of it before the cut-off. LakeUnavailable when
        the lake cannot be read; only a real 'no history' is cached."""
        found: dict[str, dict[str, object] | None] = {}
        with self._cache_lock:
            for address in addresses:
                if address in self._cache:
                    self._cache.move_to_end(address)
                    found[address] = self._cache[address]
        missing = list(dict.fromkeys(a for a in addresses if a not in found))
        if missing:
            what = f"scoring {len(missing)} address(es) on the fly"
            with self._running:
                computed = self._read(lambda: self._compute(missing), what)
                if any(row is None for row in computed.values()):
                    self._confirm_no_history(what)
            with self._cache_lock:
                for address, row in computed.items():
                    self._cache[address] = row
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            found.update(computed)
        return found

    def context(self, address: str) -> dict[str, object] | None:
        """The context of `address` (lower-case) but its score history: exposure, counterparties,
        activity and holdings, computed from the lake by the pipeline's exposure SQL and
        functions restricted to it, with the snapshot's listed and flagged addresses (indirect
        exposure included: only stores of whole histories score on the fly). None without any
        transaction or token transfer before the cut-off. Cached like the scores;
        LakeUnavailable (nothing cached) when the lake cannot be read."""
        with self._cache_lock:
            if address in self._contexts:
                self._contexts.move_to_end(address)
                return self._contexts[address]
        what = f"the context of {address} on the fly"
        with self._running:
            parts = self._read(lambda: self._context(address), what)
            if parts is None:
                self._confirm_no_history(what)
        with self._cache_lock:
            self._contexts[address] = parts
            while len(self._contexts) > CACHE_SIZE:
                self._contexts.popitem(last=False)
        return parts

    def _context(self, address: str) -> dict[str, object] | None:
        frames = read_lake(
            lambda con: exposure_of_addresses(
                con,
                self.lake,
                [address],
                self.as_of,
                self.excluded_tokens,
                self.label_hits.keys(),
                self.flagged,
                lists_read=bool(self.exposure_terms.get("label_sources")),
            )
        )
        if frames.exposure.filter(pl.col("first_seen").is_not_null()).height == 0:
            return None
        contexts = contexts_from_frames(
            frames, self.exposure_terms, self.label_hits, self.entities, self.scored_rows
        )
        return contexts.parts(address)

    def features(self, addresses: Sequence[str]) -> pl.DataFrame:
        """The flagged feature rows of `addresses`, from the lake (retried once if a day file
        was swapped while the query ran)."""
        features = read_lake(
            lambda con: features_of_addresses(
                con, self.lake, addresses, self.as_of, self.excluded_tokens
            )
        )
        universe = pl.DataFrame(
            {
                "address": features["address"],
                "is_labelled_illicit": [a in self.label_hits for a in features["address"]],
            }
        )
        return with_flags(features, universe)

    def _compute(self, addresses: list[str]) -> dict[str, dict[str, object] | None]:
        flagged = self.features(addresses)
        active = flagged.filter(pl.col("has_activity"))
        result: dict[str, dict[str, object] | None] = dict.fromkeys(addresses)
        if active.height == 0:
            return result
        scores = score_new_addresses(
            self.model, active, self.populations, self.reasons, self.type_model
        )
        imputed = self.cleaning.impute(active, self.profiles.source_columns)
        assigned = self.profiles.assign(imputed, np.ones(active.height, dtype=bool))
        values = self.profiles.values(imputed)
        scored_at = datetime.now(UTC)
        for index, row in enumerate(scores.iter_rows(named=True)):
            address = row["address"]
            profile_id = int(assigned["profile_id"][index])
            result[address] = {
                **row,
                "profile_id": profile_id,
                "profile_name": assigned["profile_name"][index],
                "profile_sets_apart": self.descriptions.get(profile_id),
                "profile_values": json.dumps(values[index]),
                "label_hits": self.label_hits.get(address, []),
                "is_labelled_illicit": address in self.label_hits,
                **self.constants,
                "scored_at": scored_at,
                "scored": "on the fly",
            }
        return result


def load_on_the_fly(
    folder: Path,
    manifest: Mapping[str, object],
    scores: pl.DataFrame,
    bands: Mapping[str, Mapping[str, object]],
    label_hits: dict[str, list[dict[str, object]]] | None = None,
    entities: Mapping[str, list[str]] | None = None,
) -> tuple[OnTheFlyScorer | None, str]:
    """The scorer of a published snapshot (its `scores` frame; `bands`: address → band and
    probability), or None and why it cannot score on the fly by design (the snapshot or its
    store does not allow it). A file it needs that was published but cannot be read raises
    (FileNotFoundError naming it, or the reader's error): that is a fault, not a design. The
    lake is not checked here: each request checks it (`OnTheFlyScorer.lake_problem`), so a
    lake that is back is used again. `label_hits` and `entities`, when the caller has read
    them already, are not read again."""
    terms = manifest.get("on_the_fly")
    if not isinstance(terms, dict):
        return None, "this snapshot was published without what on-the-fly scoring needs"
    if not terms.get("allowed"):
        return None, str(terms.get("why_not"))
    paths = {suffix: attachment_path(folder, manifest, suffix) for suffix in ON_THE_FLY_ATTACHMENTS}
    if any(path is None for path in paths.values()):
        return None, "this snapshot was published without what on-the-fly scoring needs"
    absent = [str(path) for path in paths.values() if path is not None and not path.is_file()]
    if absent:
        raise FileNotFoundError(f"the snapshot's {', '.join(absent)} are missing")
    lake = Path(str(terms["lake"]))
    model = load_pickle(paths[MODEL], IllicitModel, "address_scores")
    profiles = load_pickle(paths[PROFILES], ProfileModel, "address_scores")
    labels = label_hits if label_hits is not None else read_label_hits(paths[LABELS])
    type_path = attachment_path(folder, manifest, TYPE_MODEL)
    type_model = (
        load_pickle(type_path, IllicitTypeModel, "illicit_type_model")
        if type_path is not None and type_path.is_file()
        else None
    )
    described = scores.select("profile_id", "profile_sets_apart").drop_nulls("profile_id")
    descriptions: dict[int, str] = {}
    for profile_id, text in described.unique("profile_id", keep="first").iter_rows():
        descriptions[int(profile_id)] = str(text)
    first = scores.row(0, named=True) if scores.height else {}
    constants = {
        key: first.get(key)
        for key in ("model", "model_as_of", "model_chain_source", "as_of", "chain_source")
    }
    scorer = OnTheFlyScorer(
        model=model,
        profiles=profiles,
        cleaning=cleaning_from_json(paths[CLEANING].read_text()),
        populations=populations_from_frame(pl.read_parquet(paths[POPULATIONS])),
        lake=LakeFiles(lake),
        as_of=parse_as_of(str(terms["as_of"])),
        excluded_tokens=tuple(terms.get("excluded_tokens") or ()),
        label_hits=labels,
        descriptions=descriptions,
        constants=constants,
        type_model=type_model,
        flagged=frozenset(scores.filter(pl.col("is_flagged"))["address"].to_list()),
        entities=entities or {},
        scored_rows=bands,
        exposure_terms=exposure if isinstance(exposure := manifest.get("exposure"), dict) else {},
    )
    return scorer, ""
