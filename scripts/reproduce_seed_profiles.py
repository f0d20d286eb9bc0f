"""Reproduce the investor-profile app's clustering silhouettes on its own training matrix.

    python scripts/reproduce_seed_profiles.py [path/to/train_pca.csv]

The app reports K-means 0.3831, Gaussian mixture 0.3839 and agglomerative 0.3330 (k = 4) on
`$ETH_ASSETS_SHARED_DATA/seed_mlnd/train_pca.csv` (7,858 rows × 3 PCA components).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from eth_assets.models.ml.clustering import method_silhouettes
from eth_assets.settings import shared_data_dir

PUBLISHED = {"kmeans": 0.3831, "gmm": 0.3839, "agglomerative": 0.3330}


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else shared_data_dir() / "seed_mlnd" / "train_pca.csv"
    if not path.is_file():
        print(f"{path} not found: pass the path of train_pca.csv", file=sys.stderr)
        return 2
    points = np.loadtxt(path, delimiter=",")
    scores = method_silhouettes(points, k=4, seed=0)
    print(f"{points.shape[0]:,} rows × {points.shape[1]} columns from {path}")
    print("| method (k = 4, seed 0) | silhouette | published |")
    print("|---|---:|---:|")
    for method, score in scores.items():
        print(f"| {method} | {score:.4f} | {PUBLISHED[method]:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
