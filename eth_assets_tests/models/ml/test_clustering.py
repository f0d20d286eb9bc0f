"""Elbow, knee and clustering helpers on points whose clusters are known."""

from __future__ import annotations

import numpy as np
import pytest

from eth_assets.models.ml.clustering import (
    elbow_analysis,
    fit_clustering,
    knee,
    predict,
    silhouette,
    ward_tree,
)


def _blobs(k: int = 3, per: int = 60, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])[:k]
    points = np.vstack([c + rng.normal(0, 0.5, size=(per, 2)) for c in centres])
    return points, np.repeat(np.arange(k), per)


def test_knee_of_a_hand_made_curve() -> None:
    # drops fast until 3, slowly after: the knee is 3
    assert knee([1, 2, 3, 4, 5, 6], [100, 50, 10, 8, 6, 5]) == 3
    assert knee([1, 2], [10, 5]) == 2


def test_elbow_finds_three_blobs() -> None:
    points, _ = _blobs(3)
    result = elbow_analysis(points, k_max=8, seed=0)
    assert result.ks == list(range(1, 9))
    assert result.silhouette_ks == list(range(2, 9))
    assert result.chosen_k == 3
    assert result.inertia == sorted(result.inertia, reverse=True)
    assert max(result.silhouette) == result.silhouette[1]  # k = 3 is the best silhouette


@pytest.mark.parametrize("method", ["kmeans", "gmm", "agglomerative"])
def test_every_method_recovers_separated_blobs(method: str) -> None:
    points, truth = _blobs(4)
    clustering = fit_clustering(method, points, 4, seed=0)
    assert sorted(clustering.sizes()) == [60, 60, 60, 60]
    # each true blob is one cluster
    for blob in range(4):
        assert len(set(clustering.labels[truth == blob])) == 1
    assert silhouette(points, clustering.labels, 10_000, 0) > 0.9
    labels, distance, probability = predict(clustering, np.array([[10.2, 9.9]]))
    assert labels[0] == clustering.labels[truth == 3][0]
    assert distance[0] < 1.0
    assert np.isnan(probability[0]) == (method != "gmm")


def test_agglomerative_on_a_sample_assigns_the_rest_to_the_nearest_centroid() -> None:
    points, truth = _blobs(3, per=100)
    tree = ward_tree(points, max_rows=60, seed=0)
    assert len(tree[1]) == 60
    clustering = fit_clustering("agglomerative", points, 3, seed=0, tree=tree)
    for blob in range(3):
        assert len(set(clustering.labels[truth == blob])) == 1


def test_silhouette_of_one_cluster_is_undefined() -> None:
    points, _ = _blobs(2)
    assert np.isnan(silhouette(points, np.zeros(len(points), int), 100, 0))
