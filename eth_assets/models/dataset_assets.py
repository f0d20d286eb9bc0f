"""Cleaned, mean-imputed datasets: what every model reads instead of the raw feature table."""

import duckdb
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    asset,
)
from pydantic import Field

from eth_assets.features.feature_assets import address_features, address_universe
from eth_assets.features.feature_provenance import read_provenance, unusable_features
from eth_assets.features.feature_tables import BEHAVIOUR_TABLE
from eth_assets.models.dataset_results import COMPLETE_CHECK, clean_features_result
from eth_assets.models.model_runs import finish, read_flagged_features, table_exists
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse

__all__ = ["COMPLETE_CHECK"]


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
    fit_of = {"chain_source": chain_source.describe(), "dagster_run_id": context.run_id}
    folder = models.folder("clean_features")
    result = clean_features_result(flagged, as_of, behaviour, fit_of, config, folder)
    complete = result.checks[0]
    if not complete.passed:
        context.log.error(
            f"{COMPLETE_CHECK} failed ({complete.metadata['addresses_missing']} addresses "
            f"missing, {complete.metadata['unusable_cells']} unusable cells): the warehouse "
            "keeps the previous clean_features and its fit"
        )
    return finish(context, result, warehouse)
