"""What address_scores publishes, as plain functions: the scores joined to profiles, labels and
the run's constants (checked against the snapshot schema), the manifest, the on-the-fly terms
and the attachments the page reads."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from eth_assets.features.feature_provenance import Provenance
from eth_assets.models.ml.classifier import IllicitModel
from eth_assets.models.ml.cleaning import cleaning_from_json
from eth_assets.models.ml.illicit_type import IllicitTypeModel
from eth_assets.models.ml.profiles import load_profile_model
from eth_assets.scores import snapshot
from eth_assets.scores.exposure import (
    ExposureInputs,
    exposure_declaration,
    label_hits_frame,
    publishable_exposure,
    training_label_overlap,
)
from eth_assets.scores.scoring import population_frame, score_addresses
from eth_assets.scores.snapshot import Manifest, OnTheFlyTerms, check_published_frame
from eth_assets.settings import PARQUET_COMPLETE_ENV


def on_the_fly_terms(provenance: Provenance | None, fit: Mapping[str, str]) -> OnTheFlyTerms:
    """Whether the address page may score addresses outside the universe from the lake, and
    how (lake, cut-off, tokens left out); `why_not` says why not. From the provenance of
    address_features and the fit the models were trained on."""
    terms = OnTheFlyTerms(
        allowed=False,
        lake=provenance.lake if provenance else None,
        as_of=fit.get("as_of"),
        excluded_tokens=list(provenance.excluded_tokens) if provenance else [],
        why_not="",
    )
    if provenance is None:
        why = "address_features was computed before it recorded how: materialize it again"
    elif provenance.engine != "local":
        why = "the features were computed in BigQuery, not from the lake"
    elif provenance.chain_source != fit.get("chain_source") or (
        provenance.as_of.isoformat() != fit.get("as_of")
    ):
        why = (
            f"address_features ({provenance.chain_source}, as of "
            f"{provenance.as_of.isoformat()}) is newer than the cleaned datasets "
            f"({fit.get('chain_source')}, as of {fit.get('as_of')}): "
            "materialize clean_features and what follows"
        )
    elif not provenance.complete_histories:
        why = (
            f"the store's source ({provenance.chain_source}) holds whole histories only for the "
            "universe's addresses; any other address appears there only through its "
            "transactions with them, so it is not scored from that fragment (for a full-chain "
            f"Parquet export, set {PARQUET_COMPLETE_ENV}=true)"
        )
    else:
        return {**terms, "allowed": True}
    return {**terms, "why_not": why}


@dataclass(frozen=True)
class ScoreInputs:
    """What address_scores reads from the warehouse."""

    flagged: pl.DataFrame  # the features with their flags, sorted by address
    assigned: pl.DataFrame  # investor_profile_assignments
    profiles: pl.DataFrame  # investor_profiles
    fit: dict[str, str]  # the fit clean_features recorded
    provenance: Provenance | None  # of address_features
    training: pl.DataFrame | None  # training_set, when it exists
    exposure: ExposureInputs


def known_illicit(flagged: pl.DataFrame, training: pl.DataFrame | None) -> np.ndarray:
    """Per row of `flagged`: labelled illicit, or an illicit row of the training set."""
    known = flagged["is_labelled_illicit"].to_numpy()
    if training is None:
        return known
    illicit = training.filter(pl.col("label") == 1)["address"]
    return flagged["address"].is_in(illicit.implode()).to_numpy() | known


def profile_values(flagged: pl.DataFrame, fit: Mapping[str, str], path: Path) -> pl.DataFrame:
    """Per address, its values of the profile features as JSON (what the page shows)."""
    model = load_profile_model(path)
    imputed = cleaning_from_json(fit["cleaning"]).impute(flagged, model.source_columns)
    return pl.DataFrame(
        {
            "address": flagged["address"],
            "profile_values": [json.dumps(row) for row in model.values(imputed)],
        }
    )


@dataclass(frozen=True)
class Publication:
    """A snapshot ready to publish, and what its checks and metadata read."""

    scores: pl.DataFrame  # in the snapshot schema
    manifest: Manifest
    attachments: dict[str, Callable[[str], None]]
    sources: list[str]  # the label lists exposure was computed from
    overlap: pl.DataFrame  # their overlap with the training labels
    declaration: dict[str, object]


def prepare_publication(
    model: IllicitModel,
    model_name: str,
    type_model: IllicitTypeModel | None,
    inputs: ScoreInputs,
    labels: pl.DataFrame,
    profile_model: Path,
    reasons: int,
    run_id: str,
    published_at: datetime,
) -> Publication:
    """Score every address of `inputs`, join profiles, label hits and the run's constants,
    check the frame against the snapshot schema, and assemble manifest and attachments."""
    flagged, fit = inputs.flagged, inputs.fit
    known = known_illicit(flagged, inputs.training)
    active = flagged["has_activity"].to_numpy()
    scores = score_addresses(model, flagged, active, known, reasons, type_model)
    label_hits = label_hits_frame(labels)
    scores = check_published_frame(
        scores.join(
            inputs.assigned.select("address", "profile_id", "profile_name"),
            on="address",
            how="left",
        )
        .join(
            inputs.profiles.select("profile_id", profile_sets_apart="sets_apart"),
            on="profile_id",
            how="left",
        )
        .join(profile_values(flagged, fit, profile_model), on="address", how="left")
        .join(label_hits, on="address", how="left")
        .with_columns(
            is_labelled_illicit=flagged["is_labelled_illicit"],
            model=pl.lit(model_name),
            model_as_of=pl.lit(model.as_of, dtype=pl.Utf8),
            model_chain_source=pl.lit(model.chain_source, dtype=pl.Utf8),
            as_of=pl.lit(fit["as_of"], dtype=pl.Utf8),
            chain_source=pl.lit(fit["chain_source"], dtype=pl.Utf8),
            scored_at=pl.lit(published_at),
        )
        .sort("address")
    )
    exposure = publishable_exposure(
        inputs.exposure,
        scores["address"].to_list(),
        label_hits["address"].to_list(),
        scores.filter(pl.col("is_flagged"))["address"].to_list(),
    )
    sources = json.loads(inputs.exposure.provenance.get("label_sources", "[]"))
    overlap = training_label_overlap(
        labels.filter(pl.col("source").is_in(sources)), inputs.training
    )
    declaration = exposure_declaration(
        sources,
        overlap,
        inputs.exposure.provenance.get("indirect_note", ""),
        inputs.training is not None,
    )
    manifest = Manifest(
        model=model_name,
        as_of=fit["as_of"],
        chain_source=fit["chain_source"],
        dagster_run_id=run_id,
        published_at=published_at.isoformat(),
        bands=[list(b) for b in model.calibration.bands],
        threshold=model.calibration.threshold,
        on_the_fly=on_the_fly_terms(inputs.provenance, fit),
        exposure=declaration,
    )
    populations = population_frame(model, flagged, active, known)
    # What the address page needs to score an address the snapshot lacks, and its context.
    attachments: dict[str, Callable[[str], None]] = {
        snapshot.MODEL: lambda path: Path(path).write_bytes(pickle.dumps(model)),
        snapshot.PROFILES: lambda path: shutil.copyfile(profile_model, path),
        snapshot.CLEANING: lambda path: Path(path).write_text(fit["cleaning"]),
        snapshot.POPULATIONS: lambda path: populations.write_parquet(path),
        snapshot.LABELS: lambda path: label_hits.write_parquet(path),
        snapshot.EXPOSURE: lambda path: exposure.exposure.write_parquet(path),
        snapshot.COUNTERPARTIES: lambda path: exposure.counterparties.write_parquet(path),
        snapshot.MONTHLY: lambda path: exposure.monthly.write_parquet(path),
        snapshot.HOLDINGS: lambda path: exposure.holdings.write_parquet(path),
        snapshot.ENTITIES: lambda path: inputs.exposure.entities.write_parquet(path),
        snapshot.MANIFEST: lambda path: snapshot.write_manifest(path, manifest),
    }
    if type_model is not None:
        attachments[snapshot.TYPE_MODEL] = lambda path: Path(path).write_bytes(
            pickle.dumps(type_model)
        )
    return Publication(scores, manifest, attachments, sources, overlap, declaration)


def score_summary(scores: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    """Addresses per band, flagged addresses per illicit type, and the mean probability of the
    scored addresses (NaN without any)."""
    bands = scores.group_by("band").len().sort("len", descending=True)
    types = (
        scores.filter(pl.col("is_flagged"))
        .group_by("illicit_type")
        .len()
        .sort("len", descending=True)
        .with_columns(pl.col("illicit_type").fill_null("none"))
    )
    scored = scores.filter(pl.col("has_activity"))["probability"].to_numpy()
    return bands, types, float(np.nanmean(scored)) if len(scored) else float("nan")
