"""Exploratory analysis of the cleaned features between reading and finishing: the K-means
elbow and a 2-D t-SNE map, each returned as a ModelResult for the finishing step.

scikit-learn, openTSNE and matplotlib are imported inside the functions: every step process
loads the whole code location, and these libraries cost seconds to import."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from eth_assets.common.markdown import markdown_table
from eth_assets.models.ml.cleaning import Cleaning, cleaning_from_json
from eth_assets.models.model_result import ModelResult

if TYPE_CHECKING:
    from eth_assets.models.analysis_assets import ElbowConfig, TsneConfig


def feature_matrix(frame: pl.DataFrame, cleaning: Cleaning) -> np.ndarray:
    """The numeric features, log-standardised (the scale t-SNE and K-means see)."""
    from eth_assets.models.ml.embedding import log_standardise

    return log_standardise(frame.select(cleaning.numeric_features).to_numpy().astype(float))


def analyse_elbow(
    frame: pl.DataFrame, fit: dict[str, str], config: ElbowConfig, folder: Path
) -> ModelResult:
    """K-means inertia (k = 1…k_max) and silhouette (k = 2…k_max); k chosen at the knee."""
    from eth_assets.models.ml.clustering import elbow_analysis
    from eth_assets.models.ml.plots import elbow_plot

    cleaning = cleaning_from_json(fit["cleaning"])
    result = elbow_analysis(
        feature_matrix(frame, cleaning), config.k_max, config.seed, config.silhouette_sample
    )
    table = pl.DataFrame(
        {
            "k": result.ks,
            "inertia": result.inertia,
            "silhouette": [None, *result.silhouette],
            "chosen": [k == result.chosen_k for k in result.ks],
        }
    )
    plot = elbow_plot(
        result.ks,
        result.inertia,
        result.silhouette_ks,
        result.silhouette,
        result.chosen_k,
        folder / "elbow.png",
    )
    chosen_silhouette = (
        result.silhouette[result.silhouette_ks.index(result.chosen_k)]
        if result.chosen_k in result.silhouette_ks
        else float("nan")
    )
    steps = [(k, {"inertia": v}) for k, v in zip(result.ks, result.inertia, strict=True)]
    steps += [
        (k, {"silhouette": v}) for k, v in zip(result.silhouette_ks, result.silhouette, strict=True)
    ]
    return ModelResult(
        experiment="elbow_analysis",
        run_name=f"elbow k≤{config.k_max}",
        as_of=fit["as_of"],
        source=fit["chain_source"],
        tables={"elbow_analysis": table},
        params={
            **config.model_dump(),
            "rule": result.rule,
            "rows": frame.height,
            "features": len(cleaning.numeric_features),
        },
        metrics={"chosen_k": result.chosen_k, "silhouette_at_chosen_k": chosen_silhouette},
        steps=steps,
        plots={"elbow": plot},
        row_count=table.height,
        metadata={
            "chosen_k": int(result.chosen_k),
            "silhouette_at_chosen_k": float(chosen_silhouette),
            "rule": result.rule,
        },
        markdown={"curves": markdown_table(table)},
    )


def embed_tsne(
    frame: pl.DataFrame, fit: dict[str, str], k: int, config: TsneConfig, folder: Path
) -> ModelResult:
    """2-D t-SNE map of the cleaned features, coloured by label and by K-means cluster (k
    chosen by the elbow analysis)."""
    from sklearn.cluster import KMeans

    from eth_assets.models.ml.embedding import tsne_embedding
    from eth_assets.models.ml.plots import embedding_plot

    cleaning = cleaning_from_json(fit["cleaning"])
    matrix = feature_matrix(frame, cleaning)
    labelled = frame["is_labelled_illicit"].to_numpy()
    label_names = np.where(labelled, "labelled illicit", "not labelled")
    result = tsne_embedding(
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
    title = f"t-SNE of {len(rows):,} addresses" + (" (stratified sample)" if result.sampled else "")
    plot = embedding_plot(
        result.points,
        [
            ("by label", label_names[rows].tolist()),
            (f"by K-means cluster (k = {k})", [f"cluster {c}" for c in clusters[rows]]),
        ],
        folder / "tsne.png",
        title,
    )
    return ModelResult(
        experiment="tsne_embedding",
        run_name=title,
        as_of=fit["as_of"],
        source=fit["chain_source"],
        tables={"tsne_embedding": table},
        params={
            **config.model_dump(),
            "method": result.method,
            "kmeans_k": k,
            "used_perplexity": result.perplexity,
            "rows": frame.height,
            "features": len(cleaning.numeric_features),
        },
        metrics={
            "kl_divergence": result.kl_divergence,
            "points": len(rows),
            "sampled": float(result.sampled),
        },
        plots={"tsne": plot},
        row_count=table.height,
        metadata={
            "sampled": bool(result.sampled),
            "method": result.method,
            "perplexity": float(result.perplexity),
            "kl_divergence": float(result.kl_divergence),
            "kmeans_k": k,
        },
    )
