"""Clustering helpers: K-means elbow analysis, and K-means / Gaussian mixture / Ward
agglomerative clusterings scored by silhouette."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

METHODS = ("kmeans", "gmm", "agglomerative")


def silhouette(points: np.ndarray, labels: np.ndarray, sample_size: int, seed: int) -> float:
    """Silhouette of `labels`, on a fixed-seed sample of `sample_size` rows when larger; NaN
    when there are fewer than two clusters."""
    if len(np.unique(labels)) < 2 or len(points) < 3:
        return float("nan")
    size = sample_size if len(points) > sample_size else None
    return float(silhouette_score(points, labels, sample_size=size, random_state=seed))


def knee(ks: list[int], inertia: list[float]) -> int:
    """The knee of a decreasing curve: the k farthest below the chord from its first to its last
    point, both axes scaled to [0, 1] (the Kneedle rule)."""
    if len(ks) < 3:
        return ks[-1]
    x = (np.asarray(ks, float) - ks[0]) / (ks[-1] - ks[0])
    y = np.asarray(inertia, float)
    span = y.max() - y.min()
    y = (y - y.min()) / span if span > 0 else np.zeros_like(y)
    chord = y[0] + (y[-1] - y[0]) * x
    return int(ks[int(np.argmax(chord - y))])


@dataclass(frozen=True)
class ElbowResult:
    """Inertia for k = 1…k_max, silhouette for k = 2…k_max, and the chosen k."""

    ks: list[int]
    inertia: list[float]
    silhouette_ks: list[int]
    silhouette: list[float]
    chosen_k: int
    rule: str


def elbow_analysis(
    points: np.ndarray, k_max: int = 10, seed: int = 0, silhouette_sample: int = 5000
) -> ElbowResult:
    """K-means over k = 1…k_max (bounded by the rows); k chosen at the knee of the inertia."""
    k_max = min(k_max, len(points))
    if k_max < 2:
        raise ValueError(f"elbow analysis needs at least 2 rows, got {len(points)}")
    ks = list(range(1, k_max + 1))
    inertia: list[float] = []
    scores: list[float] = []
    for k in ks:
        model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(points)
        inertia.append(float(model.inertia_))
        if k >= 2:
            scores.append(silhouette(points, model.labels_, silhouette_sample, seed))
    return ElbowResult(
        ks=ks,
        inertia=inertia,
        silhouette_ks=ks[1:],
        silhouette=scores,
        chosen_k=knee(ks, inertia),
        rule="knee of the inertia curve (largest gap below the chord from k=1 to k=max)",
    )


@dataclass(frozen=True)
class Clustering:
    """One fitted clustering: labels 0…k−1 for every row, centroids, and a predictor."""

    method: str
    k: int
    labels: np.ndarray
    centroids: np.ndarray
    model: object  # KMeans, GaussianMixture, or None for agglomerative (nearest centroid)

    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.k)


def _centroids(points: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    return np.vstack([points[labels == c].mean(axis=0) for c in range(k)])


def nearest(points: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of, and Euclidean distance to, the nearest centroid of each point."""
    distances = np.linalg.norm(points[:, None, :] - centroids[None, :, :], axis=2)
    labels = distances.argmin(axis=1)
    return labels, distances[np.arange(len(points)), labels]


def ward_tree(points: np.ndarray, max_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ward linkage of the points (of a fixed-seed sample of `max_rows` when larger): the tree
    and the rows it was built on. Cut it at any k with `agglomerative`."""
    rows = np.arange(len(points))
    if len(points) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(points), max_rows, replace=False))
    return linkage(points[rows], method="ward"), rows


def agglomerative(points: np.ndarray, k: int, tree: np.ndarray, rows: np.ndarray) -> Clustering:
    """Ward clusters cut from `tree` at k; rows outside the tree go to the nearest centroid."""
    cut = fcluster(tree, t=k, criterion="maxclust") - 1
    centroids = _centroids(points[rows], cut, int(cut.max()) + 1)
    labels, _ = nearest(points, centroids)
    labels[rows] = cut
    return Clustering("agglomerative", len(centroids), labels, centroids, None)


def fit_clustering(
    method: str,
    points: np.ndarray,
    k: int,
    seed: int,
    tree: tuple[np.ndarray, np.ndarray] | None = None,
    n_init: int = 10,
) -> Clustering:
    """Fit `method` with k clusters on `points` (K-means: best of `n_init` starts)."""
    if method == "kmeans":
        model = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(points)
        return Clustering(method, k, model.labels_.astype(int), model.cluster_centers_, model)
    if method == "gmm":
        model = GaussianMixture(n_components=k, covariance_type="full", random_state=seed)
        labels = model.fit(points).predict(points)
        return Clustering(method, k, labels.astype(int), model.means_, model)
    if method == "agglomerative":
        built = tree if tree is not None else ward_tree(points, len(points), seed)
        return agglomerative(points, k, *built)
    raise ValueError(f"unknown clustering method {method!r}; choose one of {METHODS}")


def predict(
    clustering: Clustering, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster of new points, distance to its centroid and (GMM only, else NaN) probability."""
    labels, distance = nearest(points, clustering.centroids)
    probability = np.full(len(points), np.nan)
    if isinstance(clustering.model, KMeans):
        labels = clustering.model.predict(points)
        distance = np.linalg.norm(points - clustering.centroids[labels], axis=1)
    elif isinstance(clustering.model, GaussianMixture):
        proba = clustering.model.predict_proba(points)
        labels = proba.argmax(axis=1)
        probability = proba.max(axis=1)
        distance = np.linalg.norm(points - clustering.centroids[labels], axis=1)
    return labels.astype(int), distance, probability


def method_silhouettes(points: np.ndarray, k: int, seed: int = 0) -> dict[str, float]:
    """Silhouette (on every row) of K-means (10 starts), a full-covariance Gaussian mixture and
    Ward clustering, each with k clusters: the investor-profile app's comparison."""
    return {
        method: silhouette(
            points, fit_clustering(method, points, k, seed).labels, len(points), seed
        )
        for method in METHODS
    }
