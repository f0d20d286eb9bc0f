"""Per-address scores, published as an immutable snapshot for the address page and the API."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb
import polars as pl
from dagster import (
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
from eth_assets.features.feature_provenance import Provenance, read_provenance
from eth_assets.features.feature_tables import ACTIVITY_TABLE
from eth_assets.labels.label_files import LABEL_COLUMNS
from eth_assets.lake.store_check import store_kind_problem
from eth_assets.models.classifier_assets import REGISTERED_MODEL, illicit_classifier
from eth_assets.models.dataset_assets import clean_features
from eth_assets.models.illicit_type_assets import ASSET as TYPE_ASSET
from eth_assets.models.illicit_type_assets import illicit_type_model
from eth_assets.models.model_result import Check, ModelResult
from eth_assets.models.model_runs import (
    finish,
    read_fit,
    read_flagged_features,
    read_table,
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
    exposure_declaration_problem,
    labels_fingerprint,
    read_exposure_provenance,
)
from eth_assets.scores.exposure_assets import address_exposure
from eth_assets.scores.snapshot import POINTER, Manifest, publish_snapshot, read_current

STORE_KIND_CHECK = "address_scores_store_kind"
EXPOSURE_CHECK = "address_scores_exposure_sources"

if TYPE_CHECKING:
    from eth_assets.models.ml.classifier import IllicitModel
    from eth_assets.models.ml.illicit_type import IllicitTypeModel
    from eth_assets.scores.publication import Publication, ScoreInputs


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


def read_score_inputs(con: duckdb.DuckDBPyConnection) -> "ScoreInputs":
    """What address_scores reads from the warehouse."""
    from eth_assets.scores.publication import ScoreInputs

    return ScoreInputs(
        flagged=read_flagged_features(con).sort("address"),
        assigned=read_table(con, "investor_profile_assignments", "investor_profiles"),
        profiles=read_table(con, "investor_profiles", "investor_profiles"),
        fit=read_fit(con),
        provenance=read_provenance(con),
        training=read_table(con, "training_set", "training_set")
        if table_exists(con, "training_set")
        else None,
        exposure=_exposure_inputs(con),
    )


def store_kind_check(
    model: "IllicitModel", provenance: Provenance | None, flagged: pl.DataFrame
) -> tuple[Check, str | None]:
    """Whether the model was trained on the kind of store the scored features come from."""
    data_kind = provenance.store_kind if provenance else ""
    model_kind = getattr(model, "store_kind", "")
    problem, shifts = store_kind_problem(
        model_kind, data_kind, model.cleaning.means, flagged.filter(pl.col("has_activity"))
    )
    metadata = {
        "model_store_kind": model_kind or "not recorded",
        "data_store_kind": data_kind or "not recorded",
        "feature_means": MetadataValue.md(markdown_table(shifts)),
    }
    return Check(STORE_KIND_CHECK, problem is None, metadata, True, problem), problem


def exposure_check(
    publication: "Publication", published: Manifest, inputs: "ScoreInputs", labels: pl.DataFrame
) -> Check:
    """Whether the published manifest declares the label lists exposure was computed from."""
    recorded = inputs.exposure.provenance
    problem = exposure_declaration_problem(
        published,
        publication.sources,
        publication.overlap,
        inputs.training is not None,
        labels_changed=recorded.get("labels_fingerprint") != labels_fingerprint(labels),
    )
    declared = publication.declaration
    metadata = {
        "label_sources": MetadataValue.json(publication.sources),
        "sources_also_training_labels": MetadataValue.json(
            declared["sources_also_training_labels"]
        ),
        "overlap_with_training_labels": MetadataValue.md(markdown_table(publication.overlap)),
        "indirect_exposure": MetadataValue.text(
            str(declared["indirect_note"] or "computed (the store holds whole histories)")
        ),
    }
    return Check(EXPOSURE_CHECK, problem is None, metadata, description=problem)


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
    # CatBoost and the scorer's imports: loaded where used
    from eth_assets.scores.publication import prepare_publication, score_summary

    model, model_name = _model(config.model or settings.scoring_model(), tracker, models)
    type_model, type_note = _type_model(models)
    with warehouse.connect(read_only=True) as con:
        inputs = read_score_inputs(con)
    labels = _labels(lake)
    published_at = datetime.now(UTC)
    publication = prepare_publication(
        model,
        model_name,
        type_model,
        inputs,
        labels,
        models.folder("investor_profiles") / "model.pkl",
        config.reasons,
        context.run_id,
        published_at,
    )
    path = publish_snapshot(
        publication.scores,
        models.published("address_scores"),
        f"{published_at:%Y%m%dT%H%M%S}-{context.run_id[:8]}",
        publication.manifest,
        attachments=publication.attachments,
    )
    # What the page reads: the published pointer, checked as published.
    _, published = read_current(path.parent)
    store_check, problem = store_kind_check(model, inputs.provenance, inputs.flagged)
    if problem:
        context.log.warning(f"address_scores: {problem}")
    bands, types, mean_probability = score_summary(publication.scores)
    terms = publication.manifest["on_the_fly"]
    result = ModelResult(
        tables={"address_scores": publication.scores},
        row_count=publication.scores.height,
        metadata={
            "model": model_name,
            "as_of": inputs.fit["as_of"],
            "flagged": int(publication.scores["is_flagged"].sum()),
            "mean_probability": mean_probability,
            "illicit_type_model": MetadataValue.text(type_note),
            "on_the_fly_scoring": MetadataValue.text(
                "allowed" if terms["allowed"] else f"off: {terms['why_not']}"
            ),
        },
        markdown={
            "bands": markdown_table(bands),
            "illicit_types_of_flagged": markdown_table(types),
        },
        paths={"snapshot": path, "pointer": path.parent / POINTER},
        checks=[store_check, exposure_check(publication, published, inputs, labels)],
    )
    return finish(context, result, warehouse)
