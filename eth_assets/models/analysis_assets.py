"""Exploratory analysis of the cleaned features: the K-means elbow and a 2-D t-SNE map.

scikit-learn, openTSNE and matplotlib are imported inside the assets: every step process loads
the whole code location, and these libraries cost seconds to import.
"""

import numpy as np
import polars as pl
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from eth_assets.common.markdown import markdown_table
from eth_assets.models.dataset_assets import clean_features
from eth_assets.models.ml.cleaning import Cleaning, cleaning_from_json
from eth_assets.models.model_runs import (
    mlflow_metadata,
    plot_metadata,
    read_fit,
    read_table,
    replace_tables,
    run_tags,
)
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import DuckDBWarehouse


def _load(warehouse: DuckDBWarehouse) -> tuple[pl.DataFrame, Cleaning, dict[str, str]]:
    """The cleaned table and the cleaning fitted with it, read in one connection."""
    with warehouse.connect(read_only=True) as con:
        frame = read_table(con, "clean_features", "clean_features")
        fit = read_fit(con)
    return frame, cleaning_from_json(fit["cleaning"]), fit


def _matrix(frame: pl.DataFrame, cleaning: Cleaning) -> np.ndarray:
    """The numeric features, log-standardised (the scale t-SNE and K-means see)."""
    from eth_assets.models.ml.embedding import log_standardise

    return log_standardise(frame.select(cleaning.numeric_features).to_numpy().astype(float))


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
    from eth_assets.models.ml.clustering import elbow_analysis as fit_elbow
    from eth_assets.models.ml.plots import elbow_plot

    frame, cleaning, fit = _load(warehouse)
    matrix = _matrix(frame, cleaning)
    result = fit_elbow(matrix, config.k_max, config.seed, config.silhouette_sample)
    table = pl.DataFrame(
        {
            "k": result.ks,
            "inertia": result.inertia,
            "silhouette": [None, *result.silhouette],
            "chosen": [k == result.chosen_k for k in result.ks],
        }
    )
    with warehouse.connect() as con:
        replace_tables(con, {"elbow_analysis": table})
    plot = elbow_plot(
        result.ks,
        result.inertia,
        result.silhouette_ks,
        result.silhouette,
        result.chosen_k,
        models.plot_path("elbow_analysis", "elbow"),
    )
    chosen_silhouette = (
        result.silhouette[result.silhouette_ks.index(result.chosen_k)]
        if (result.chosen_k in result.silhouette_ks)
        else float("nan")
    )
    tags = run_tags(context, fit["as_of"], fit["chain_source"])
    with tracker.start_run("elbow_analysis", f"elbow k≤{config.k_max}", tags) as run:
        run.log_params(
            {
                **config.model_dump(),
                "rule": result.rule,
                "rows": frame.height,
                "features": len(cleaning.numeric_features),
            }
        )
        run.log_metrics({"chosen_k": result.chosen_k, "silhouette_at_chosen_k": chosen_silhouette})
        for k, inertia in zip(result.ks, result.inertia, strict=True):
            run.log_metrics({"inertia": inertia}, step=k)
        for k, score in zip(result.silhouette_ks, result.silhouette, strict=True):
            run.log_metrics({"silhouette": score}, step=k)
        run.log_artifact(plot, "plots")
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "chosen_k": result.chosen_k,
            "silhouette_at_chosen_k": float(chosen_silhouette),
            "rule": result.rule,
            "curves": MetadataValue.md(markdown_table(table)),
            **plot_metadata({"elbow": plot}),
            **mlflow_metadata(run),
        }
    )


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
    from sklearn.cluster import KMeans

    from eth_assets.models.ml.embedding import tsne_embedding as embed
    from eth_assets.models.ml.plots import embedding_plot

    frame, cleaning, fit = _load(warehouse)
    with warehouse.connect(read_only=True) as con:
        elbow = read_table(con, "elbow_analysis", "elbow_analysis")
    k = int(elbow.filter(pl.col("chosen"))["k"][0])
    matrix = _matrix(frame, cleaning)
    labelled = frame["is_labelled_illicit"].to_numpy()
    label_names = np.where(labelled, "labelled illicit", "not labelled")
    result = embed(
        matrix, label_names, config.max_points, config.perplexity, config.seed, config.threads
    )
    clusters = KMeans(n_clusters=k, n_init=4, random_state=config.seed).fit_predict(matrix)
    rows = result.indices
    table = pl.DataFrame(
        {
            "address": frame["address"].gather(rows),
            "x": result.points[:, 0],
            "y": result.points[:, 1],
            "is_labelled_illicit": labelled[rows],
            "kmeans_cluster": clusters[rows].astype(np.int32),
        }
    )
    with warehouse.connect() as con:
        replace_tables(con, {"tsne_embedding": table})
    title = f"t-SNE of {len(rows):,} addresses" + (" (stratified sample)" if result.sampled else "")
    plot = embedding_plot(
        result.points,
        [
            ("by label", label_names[rows].tolist()),
            (f"by K-means cluster (k = {k})", [f"cluster {c}" for c in clusters[rows]]),
        ],
        models.plot_path("tsne_embedding", "tsne"),
        title,
    )
    tags = run_tags(context, fit["as_of"], fit["chain_source"])
    with tracker.start_run("tsne_embedding", title, tags) as run:
        run.log_params(
            {
                **config.model_dump(),
                "method": result.method,
                "kmeans_k": k,
                "used_perplexity": result.perplexity,
                "rows": frame.height,
                "features": len(cleaning.numeric_features),
            }
        )
        run.log_metrics(
            {
                "kl_divergence": result.kl_divergence,
                "points": len(rows),
                "sampled": float(result.sampled),
            }
        )
        run.log_artifact(plot, "plots")
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "sampled": result.sampled,
            "method": result.method,
            "perplexity": result.perplexity,
            "kl_divergence": result.kl_divergence,
            "kmeans_k": k,
            **plot_metadata({"tsne": plot}),
            **mlflow_metadata(run),
        }
    )
