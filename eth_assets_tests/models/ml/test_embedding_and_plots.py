"""t-SNE on a small input, the stratified sample and the PNG plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eth_assets.models.ml.embedding import log_standardise, stratified_sample, tsne_embedding
from eth_assets.models.ml.plots import elbow_plot, embedding_plot

PNG = b"\x89PNG\r\n\x1a\n"


def test_stratified_sample_keeps_proportions_and_is_fixed() -> None:
    strata = np.array(["a"] * 900 + ["b"] * 100)
    rows = stratified_sample(strata, 100, seed=7)
    assert len(rows) == 100 and (strata[rows] == "b").sum() == 10
    assert np.array_equal(rows, stratified_sample(strata, 100, seed=7))
    assert np.array_equal(stratified_sample(strata, 5000, seed=7), np.arange(1000))


def test_log_standardise_tames_heavy_tails() -> None:
    values = np.array([[1.0, 5.0], [10.0, 5.0], [1e9, 5.0]])
    scaled = log_standardise(values)
    assert np.allclose(scaled.mean(axis=0), 0.0)
    assert np.all(scaled[:, 1] == 0.0)  # a constant column stays finite
    assert scaled[2, 0] < 1.5  # the whale is not hundreds of deviations away


def test_tsne_separates_two_groups_and_is_seeded(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = np.vstack([rng.lognormal(0, 0.2, (60, 5)), rng.lognormal(4, 0.2, (60, 5))])
    groups = np.array(["x"] * 60 + ["y"] * 60)
    first = tsne_embedding(values, groups, max_points=100, perplexity=10, seed=1)
    second = tsne_embedding(values, groups, max_points=100, perplexity=10, seed=1)
    assert first.sampled and len(first.indices) == 100
    assert np.allclose(first.points, second.points)
    chosen = groups[first.indices]
    gap = np.linalg.norm(
        first.points[chosen == "x"].mean(axis=0) - first.points[chosen == "y"].mean(axis=0)
    )
    assert gap > 3 * first.points[chosen == "x"].std(axis=0).max()
    plot = embedding_plot(first.points, [("g", chosen.tolist())], tmp_path / "t.png", "t")
    assert plot.read_bytes()[:8] == PNG


def test_elbow_plot_is_a_small_png(tmp_path: Path) -> None:
    path = elbow_plot([1, 2, 3], [9.0, 4.0, 3.0], [2, 3], [0.5, 0.4], 2, tmp_path / "e.png")
    data = path.read_bytes()
    assert data[:8] == PNG
    width = int.from_bytes(data[16:20], "big")
    assert width == 600
