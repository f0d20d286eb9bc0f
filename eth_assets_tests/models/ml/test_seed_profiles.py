"""The investor-profile app's silhouettes, reproduced on its own training matrix (real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eth_assets.models.ml.clustering import method_silhouettes


def test_app_silhouettes_are_reproduced(shared_data: Path) -> None:
    points = np.loadtxt(shared_data / "seed_mlnd" / "train_pca.csv", delimiter=",")
    assert points.shape == (7858, 3)
    scores = method_silhouettes(points, k=4, seed=0)
    assert scores["kmeans"] == pytest.approx(0.383, abs=0.01)
    assert scores["gmm"] == pytest.approx(0.384, abs=0.01)
    assert scores["agglomerative"] == pytest.approx(0.333, abs=0.01)
