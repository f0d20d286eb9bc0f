"""Exploratory analysis of the cleaned features: the K-means elbow and a 2-D t-SNE map.

scikit-learn, openTSNE and matplotlib are imported inside the assets: every step process loads
the whole code location, and these libraries cost seconds to import.
"""

import polars as pl
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    asset,
)
from pydantic import Field

from eth_assets.models.analysis_results import analyse_elbow, embed_tsne
from eth_assets.models.dataset_assets import clean_features
from eth_assets.models.model_runs import finish, read_fit, read_table
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import DuckDBWarehouse


class ElbowConfig(Config):
    """K range, seed and silhouette sample of the elbow analysis."""

    k_max: int = Field(10, description="Inertia for k = 1…k_max, silhouette for 2…k_max.")
    seed: int = Field(0, description="K-means seed.")
    silhouette_sample: int = Field(5000, description="Silhouette on a sample above this size.")


@asset(
    deps=[clean_features],
    group_name="analysis",
    kinds={"scikitlearn", "mlflow"},
    backfill_policy=BackfillPolicy.single_run(),
)
def elbow_analysis(
    context: AssetExecutionContext,
    config: ElbowConfig,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker,
    models: ModelStore,
) -> MaterializeResult:
    """K-means inertia (k = 1…10) and silhouette (k = 2…10); k chosen at the inertia knee."""
    with warehouse.connect(read_only=True) as con:
        frame = read_table(con, "clean_features", "clean_features")
        fit = read_fit(con)
    result = analyse_elbow(frame, fit, config, models.folder("elbow_analysis"))
    return finish(context, result, warehouse, tracker)


class TsneConfig(Config):
    """Size, perplexity and seed of the t-SNE map."""

    max_points: int = Field(
        10_000, description="Above this many addresses, embed a stratified sample of this size."
    )
    perplexity: float = Field(30.0, description="t-SNE perplexity.")
    seed: int = Field(0, description="Seed of the sample, the embedding and the K-means colours.")
    threads: int = Field(2, description="Threads of the embedding.")


@asset(
    deps=[clean_features, elbow_analysis],
    group_name="analysis",
    kinds={"mlflow"},
    backfill_policy=BackfillPolicy.single_run(),
)
def tsne_embedding(
    context: AssetExecutionContext,
    config: TsneConfig,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker,
    models: ModelStore,
) -> MaterializeResult:
    """2-D t-SNE map of the cleaned features, coloured by label and by K-means cluster."""
    with warehouse.connect(read_only=True) as con:
        frame = read_table(con, "clean_features", "clean_features")
        fit = read_fit(con)
        elbow = read_table(con, "elbow_analysis", "elbow_analysis")
    k = int(elbow.filter(pl.col("chosen"))["k"][0])
    result = embed_tsne(frame, fit, k, config, models.folder("tsne_embedding"))
    return finish(context, result, warehouse, tracker)
