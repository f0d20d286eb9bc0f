"""Per-address scores, published as an immutable snapshot for the address page and the API."""

import json
import pickle
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from eth_assets import settings
from eth_assets.common.markdown import markdown_table
from eth_assets.features.feature_tables import ACTIVITY_TABLE, read_provenance
from eth_assets.labels.label_files import LABEL_COLUMNS
from eth_assets.lake.store_check import store_kind_problem
from eth_assets.models.classifier_assets import REGISTERED_MODEL, illicit_classifier
from eth_assets.models.dataset_assets import clean_features
from eth_assets.models.illicit_type_assets import ASSET as TYPE_ASSET
from eth_assets.models.illicit_type_assets import illicit_type_model
from eth_assets.models.model_runs import (
    read_fit,
    read_flagged_features,
    read_table,
    replace_tables,
    table_exists,
)
from eth_assets.models.profile_assets import investor_profiles
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse
from eth_assets.scores.exposure import (
    COUNTERPARTIES_TABLE,
    ENTITY_TABLE,
    HOLDINGS_TABLE,
    LISTED_TABLE,
    MONTHLY_TABLE,
    ExposureInputs,
    exposure_declaration,
    exposure_declaration_problem,
    label_hits_frame,
    labels_fingerprint,
    publishable_exposure,
    read_exposure_provenance,
    training_label_overlap,
)
from eth_assets.scores.exposure_assets import address_exposure
from eth_assets.scores.snapshot import publish_snapshot, read_current
from eth_assets.serve.context import (
    COUNTERPARTIES,
    ENTITIES,
    EXPOSURE,
    HOLDINGS,
    MANIFEST,
    MONTHLY,
)

STORE_KIND_CHECK = "address_scores_store_kind"
EXPOSURE_CHECK = "address_scores_exposure_sources"

if TYPE_CHECKING:
    from eth_assets.models.ml.classifier import IllicitModel
    from eth_assets.models.ml.illicit_type import IllicitTypeModel


class AddressScoresConfig(Config):
    """Which model scores the addresses."""

    model: str = Field(
        "",
        description="`champion` (the registry alias), a registered version number, or `local` "
        "(the latest illicit_classifier file of this data dir). Empty: "
        f"${settings.SCORING_MODEL_ENV}, else champion.",
    )
    reasons: int = Field(3, description="SHAP reasons per address.")


def _model(which: str, tracker: MlflowTracker, models: ModelStore) -> tuple["IllicitModel", str]:
    """The model and how it is named in the scores (registry version or local file)."""
    from eth_assets.models.ml.classifier import IllicitModel, load_illicit_model

    if which == "local":
        path = models.folder("illicit_classifier") / "model.pkl"
        return load_illicit_model(path), f"local {path}"
    model, version = tracker.load_model(REGISTERED_MODEL, which)
    if not isinstance(model, IllicitModel):
        raise TypeError(f"{REGISTERED_MODEL} version {version.version} is not an IllicitModel")
    return model, f"{REGISTERED_MODEL} v{version.version}"


def _type_model(models: ModelStore) -> tuple["IllicitTypeModel | None", str]:
    """The type model illicit_type_model saved last, or None, and what the scores say of it."""
    from eth_assets.models.ml.illicit_type import load_illicit_type_model

    path = models.folder(TYPE_ASSET) / "model.pkl"
    if not path.is_file():
        return None, f"no type model at {path}: materialize {TYPE_ASSET} (types left NULL)"
    model = load_illicit_type_model(path)
    if model.classifier is None:
        return None, f"{TYPE_ASSET} learned no model (types left NULL): {model.why_not}"
    return model, f"{', '.join(model.types)} ({path})"


def _profile_values(flagged: pl.DataFrame, fit: dict[str, str], path: Path) -> pl.DataFrame:
    """Per address, its values of the profile features as JSON (what the page shows)."""
    from eth_assets.models.ml.cleaning import cleaning_from_json
    from eth_assets.models.ml.profiles import load_profile_model

    model = load_profile_model(path)
    imputed = cleaning_from_json(fit["cleaning"]).impute(flagged, model.source_columns)
    return pl.DataFrame(
        {
            "address": flagged["address"],
            "profile_values": [json.dumps(row) for row in model.values(imputed)],
        }
    )


def _labels(lake: ParquetLake) -> pl.DataFrame:
    """The lake's label rows (address, source, category, subcategory, name, date); empty before
    illicit_labels ran."""
    path = lake.table_path("illicit_labels")
    if not path.is_file():
        return pl.DataFrame(schema=dict.fromkeys(LABEL_COLUMNS, pl.Utf8))
    return pl.read_parquet(path)


def _exposure_inputs(con: duckdb.DuckDBPyConnection) -> ExposureInputs:
    """The tables address_exposure stored, and how it computed them."""
    tables = {
        name: read_table(con, name, "address_exposure")
        for name in (
            COUNTERPARTIES_TABLE,
            LISTED_TABLE,
            MONTHLY_TABLE,
            HOLDINGS_TABLE,
            ENTITY_TABLE,
        )
    }
    return ExposureInputs(
        counterparties=tables[COUNTERPARTIES_TABLE],
        listed=tables[LISTED_TABLE],
        monthly=tables[MONTHLY_TABLE],
        holdings=tables[HOLDINGS_TABLE],
        entities=tables[ENTITY_TABLE],
        activity=read_table(con, ACTIVITY_TABLE, "address_features")
        if table_exists(con, ACTIVITY_TABLE)
        else None,
        provenance=read_exposure_provenance(con),
    )


@asset(
    deps=[
        clean_features,
        investor_profiles,
        illicit_classifier,
        illicit_type_model,
        address_exposure,
    ],
    group_name="scores",
    kinds={"parquet", "duckdb"},
    tags=WAREHOUSE_TAG,
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=[
        AssetCheckSpec(
            STORE_KIND_CHECK,
            asset="address_scores",
            description="The model was trained on the same kind of store (full chain or chosen "
            "accounts' histories) as the features it scores; warns with the features' training "
            "and scoring means otherwise.",
        ),
        AssetCheckSpec(
            EXPOSURE_CHECK,
            asset="address_scores",
            description="The snapshot manifest states the label lists exposure was computed "
            "from, and declares those that the model's training labels also came from (listed "
            "and flagged exposure are then not independent); the lists did not change since "
            "address_exposure ran.",
        ),
    ],
)
def address_scores(
    context: AssetExecutionContext,
    config: AddressScoresConfig,
    warehouse: DuckDBWarehouse,
    lake: ParquetLake,
    tracker: MlflowTracker,
    models: ModelStore,
) -> MaterializeResult:
    """Calibrated illicit probability, band, likely type, profile and reasons per address."""
    # CatBoost and the on-the-fly scorer's imports: loaded where used
    from eth_assets.scores.scoring import population_frame, score_addresses
    from eth_assets.serve.on_the_fly import (
        CLEANING,
        LABELS,
        MODEL,
        POPULATIONS,
        PROFILES,
        TYPE_MODEL,
        on_the_fly_terms,
    )

    which = config.model or settings.scoring_model()
    model, model_name = _model(which, tracker, models)
    type_model, type_note = _type_model(models)
    with warehouse.connect(read_only=True) as con:
        flagged = read_flagged_features(con).sort("address")
        assigned = read_table(con, "investor_profile_assignments", "investor_profiles")
        profiles = read_table(con, "investor_profiles", "investor_profiles")
        fit = read_fit(con)
        provenance = read_provenance(con)
        training = (
            read_table(con, "training_set", "training_set")
            if table_exists(con, "training_set")
            else None
        )
        exposure_inputs = _exposure_inputs(con)
    known = flagged["is_labelled_illicit"].to_numpy()
    if training is not None:
        illicit = set(training.filter(pl.col("label") == 1)["address"].to_list())
        known = flagged["address"].is_in(list(illicit)).to_numpy() | known
    active = flagged["has_activity"].to_numpy()
    scores = score_addresses(model, flagged, active, known, config.reasons, type_model)
    published_at = datetime.now(UTC)
    profile_model = models.folder("investor_profiles") / "model.pkl"
    profile_values = _profile_values(flagged, fit, profile_model)
    labels = _labels(lake)
    label_hits = label_hits_frame(labels)
    scores = (
        scores.join(
            assigned.select("address", "profile_id", "profile_name"), on="address", how="left"
        )
        .join(
            profiles.select("profile_id", profile_sets_apart="sets_apart"),
            on="profile_id",
            how="left",
        )
        .join(profile_values, on="address", how="left")
        .join(label_hits, on="address", how="left")
        .with_columns(
            is_labelled_illicit=flagged["is_labelled_illicit"],
            model=pl.lit(model_name),
            model_as_of=pl.lit(model.as_of),
            model_chain_source=pl.lit(model.chain_source),
            as_of=pl.lit(fit["as_of"]),
            chain_source=pl.lit(fit["chain_source"]),
            scored_at=pl.lit(published_at),
        )
        .sort("address")
    )
    with warehouse.connect() as con:
        replace_tables(con, {"address_scores": scores})
    name = f"{published_at:%Y%m%dT%H%M%S}-{context.run_id[:8]}"
    populations = population_frame(model, flagged, active, known)
    on_the_fly = on_the_fly_terms(provenance, fit)
    exposure = publishable_exposure(
        exposure_inputs,
        scores["address"].to_list(),
        label_hits["address"].to_list(),
        scores.filter(pl.col("is_flagged"))["address"].to_list(),
    )
    sources = json.loads(exposure_inputs.provenance.get("label_sources", "[]"))
    overlap = training_label_overlap(labels.filter(pl.col("source").is_in(sources)), training)
    declaration = exposure_declaration(
        sources,
        overlap,
        exposure_inputs.provenance.get("indirect_note", ""),
        training is not None,
    )
    manifest = {
        "model": model_name,
        "as_of": fit["as_of"],
        "chain_source": fit["chain_source"],
        "dagster_run_id": context.run_id,
        "published_at": published_at.isoformat(),
        "bands": [list(b) for b in model.calibration.bands],
        "threshold": model.calibration.threshold,
        "on_the_fly": on_the_fly,
        "exposure": declaration,
    }
    # What the address page needs to score an address the snapshot lacks, published with it.
    attachments = {
        MODEL: lambda path: Path(path).write_bytes(pickle.dumps(model)),
        PROFILES: lambda path: shutil.copyfile(profile_model, path),
        CLEANING: lambda path: Path(path).write_text(fit["cleaning"]),
        POPULATIONS: lambda path: populations.write_parquet(path),
        LABELS: lambda path: label_hits.write_parquet(path),
        # The address page's context: exposure, counterparties, activity, holdings.
        EXPOSURE: lambda path: exposure.exposure.write_parquet(path),
        COUNTERPARTIES: lambda path: exposure.counterparties.write_parquet(path),
        MONTHLY: lambda path: exposure.monthly.write_parquet(path),
        HOLDINGS: lambda path: exposure.holdings.write_parquet(path),
        ENTITIES: lambda path: exposure_inputs.entities.write_parquet(path),
        MANIFEST: lambda path: Path(path).write_text(json.dumps(manifest, default=str)),
    }
    if type_model is not None:
        attachments[TYPE_MODEL] = lambda path: Path(path).write_bytes(pickle.dumps(type_model))
    path = publish_snapshot(
        scores,
        models.published("address_scores"),
        name,
        manifest,
        attachments=attachments,
    )
    # What the page reads: the published pointer, checked as published.
    _, published = read_current(path.parent)
    exposure_problem = exposure_declaration_problem(
        published,
        sources,
        overlap,
        training is not None,
        labels_changed=exposure_inputs.provenance.get("labels_fingerprint")
        != labels_fingerprint(labels),
    )
    bands = scores.group_by("band").len().sort("len", descending=True)
    types = (
        scores.filter(pl.col("is_flagged"))
        .group_by("illicit_type")
        .len()
        .sort("len", descending=True)
        .with_columns(pl.col("illicit_type").fill_null("none"))
    )
    scored = scores.filter(pl.col("has_activity"))
    data_kind = provenance.get("store_kind", "")
    model_kind = getattr(model, "store_kind", "")
    problem, shifts = store_kind_problem(
        model_kind, data_kind, model.cleaning.means, flagged.filter(pl.col("has_activity"))
    )
    if problem:
        context.log.warning(f"address_scores: {problem}")
    store_check = AssetCheckResult(
        check_name=STORE_KIND_CHECK,
        passed=problem is None,
        severity=AssetCheckSeverity.WARN,
        description=problem,
        metadata={
            "model_store_kind": model_kind or "not recorded",
            "data_store_kind": data_kind or "not recorded",
            "feature_means": MetadataValue.md(markdown_table(shifts)),
        },
    )
    exposure_check = AssetCheckResult(
        check_name=EXPOSURE_CHECK,
        passed=exposure_problem is None,
        description=exposure_problem,
        metadata={
            "label_sources": MetadataValue.json(sources),
            "sources_also_training_labels": MetadataValue.json(
                declaration["sources_also_training_labels"]
            ),
            "overlap_with_training_labels": MetadataValue.md(markdown_table(overlap)),
            "indirect_exposure": MetadataValue.text(
                declaration["indirect_note"] or "computed (the store holds whole histories)"
            ),
        },
    )
    return MaterializeResult(
        check_results=[store_check, exposure_check],
        metadata={
            "dagster/row_count": scores.height,
            "model": model_name,
            "as_of": fit["as_of"],
            "flagged": int(scores["is_flagged"].sum()),
            "mean_probability": float(np.nanmean(scored["probability"].to_numpy()))
            if scored.height
            else float("nan"),
            "bands": MetadataValue.md(markdown_table(bands)),
            "illicit_types_of_flagged": MetadataValue.md(markdown_table(types)),
            "illicit_type_model": MetadataValue.text(type_note),
            "snapshot": MetadataValue.path(str(path)),
            "pointer": MetadataValue.path(str(path.parent / "current.json")),
            "on_the_fly_scoring": MetadataValue.text(
                "allowed" if on_the_fly["allowed"] else f"off: {on_the_fly['why_not']}"
            ),
        },
    )
