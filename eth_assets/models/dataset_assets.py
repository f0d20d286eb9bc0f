"""Cleaned, mean-imputed datasets: what every model reads instead of the raw feature table."""

import duckdb
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from eth_assets.common.markdown import markdown_table
from eth_assets.features.as_of import parse_as_of
from eth_assets.features.feature_assets import address_features, address_universe
from eth_assets.features.feature_provenance import read_provenance, unusable_features
from eth_assets.features.feature_tables import BEHAVIOUR_TABLE
from eth_assets.models.dataset_rules import PASS_THROUGH, cleaning_rules
from eth_assets.models.ml.cleaning import clean_dataset, unusable_cells
from eth_assets.models.model_runs import (
    FIT_TABLE,
    read_flagged_features,
    replace_tables,
    table_exists,
)
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse

COMPLETE_CHECK = "clean_features_complete"


class CleanFeaturesConfig(Config):
    """The cleaning rules of the CatBoost paper, as settings."""

    max_zero_share: float = Field(
        0.9, description="Drop a numeric column whose share of zeros is above this."
    )
    min_level_count: int = Field(
        2, description="A token name seen fewer times becomes the level '(other)'."
    )


def features_as_of(con: duckdb.DuckDBPyConnection) -> str:
    """The cutoff address_features was computed with, as stored beside it in the warehouse;
    refused when the stored table has not passed its blocking usability check."""
    provenance = read_provenance(con)
    if provenance is None:
        raise LookupError(
            "address_features has no recorded cutoff (never materialized, or by an older "
            "version): materialize address_features first"
        )
    problem = unusable_features(provenance)
    if problem is not None:
        raise ValueError(f"clean_features refuses the stored features: {problem}")
    return provenance.as_of.isoformat()


@asset(
    deps=[address_features, address_universe],
    group_name="datasets",
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"duckdb", "polars"},
    tags=WAREHOUSE_TAG,
    check_specs=[
        AssetCheckSpec(
            COMPLETE_CHECK,
            asset="clean_features",
            blocking=True,
            description="One row per address of address_features and no missing or invalid "
            "value left among the features; the models do not run otherwise.",
        )
    ],
)
def clean_features(
    context: AssetExecutionContext,
    config: CleanFeaturesConfig,
    chain_source: ChainSource,
    warehouse: DuckDBWarehouse,
    models: ModelStore,
) -> MaterializeResult:
    """Features with invalid values mean-imputed, mostly-zero columns dropped, one row each."""
    with warehouse.connect() as con:
        as_of = features_as_of(con)
        flagged = read_flagged_features(con)
        behaviour = table_exists(con, BEHAVIOUR_TABLE)
    rules = cleaning_rules(
        parse_as_of(as_of), config.max_zero_share, config.min_level_count, behaviour
    )
    dataset = clean_dataset(flagged, rules, keep=PASS_THROUGH)
    fit = pl.DataFrame(
        {
            "as_of": [as_of],
            "chain_source": [chain_source.describe()],
            "cleaning": [dataset.cleaning.to_json()],
            "max_zero_share": [config.max_zero_share],
            "min_level_count": [config.min_level_count],
            "behaviour_features": [behaviour],
            "dagster_run_id": [context.run_id],
        }
    )
    frame = dataset.frame
    missing = flagged["address"].n_unique() - frame["address"].n_unique()
    unusable = unusable_cells(frame, dataset.cleaning)
    passed = missing == 0 and unusable == 0 and frame.height == frame["address"].n_unique()
    # Stored only when the blocking check passes: the previous table and fit stay otherwise.
    if passed:
        with warehouse.connect() as con:
            replace_tables(con, {"clean_features": dataset.frame, FIT_TABLE: fit})
        saved = str(dataset.cleaning.save(models.folder("clean_features") / "cleaning.json"))
    else:
        saved = "not saved: the check failed"
        context.log.error(
            f"{COMPLETE_CHECK} failed ({missing} addresses missing, {unusable} unusable cells): "
            "the warehouse keeps the previous clean_features and its fit"
        )
    report = dataset.report
    dropped = report.filter(pl.col("dropped") != "").select("column", "dropped")
    imputed = report.filter(pl.col("imputed") > 0).select(
        "column", "nan", "infinite", "negative", "above_bound", "imputed"
    )
    complete = AssetCheckResult(
        check_name=COMPLETE_CHECK,
        passed=passed,
        metadata={"addresses_missing": missing, "unusable_cells": unusable, "stored": passed},
    )
    return MaterializeResult(
        check_results=[complete],
        metadata={
            "dagster/row_count": frame.height,
            "rows_in": dataset.rows_in,
            "duplicates_removed": dataset.duplicates_removed,
            "rows_out": frame.height,
            "as_of": as_of,
            "behaviour_features": behaviour,
            "numeric_features": len(dataset.cleaning.numeric_features),
            "categorical_features": MetadataValue.text(
                ", ".join(dataset.cleaning.categorical_features)
            ),
            "labelled_illicit": int(frame["is_labelled_illicit"].sum()),
            "without_activity": int((~frame["has_activity"]).sum()),
            "values_imputed": int(report["imputed"].sum()),
            "imputed_by_column": MetadataValue.md(markdown_table(imputed)),
            "dropped_columns": MetadataValue.md(markdown_table(dropped)),
            "column_report": MetadataValue.md(markdown_table(report)),
            "stored": passed,
            "cleaning": MetadataValue.path(saved) if passed else MetadataValue.text(saved),
        },
    )
