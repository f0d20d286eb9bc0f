"""Benchmark of the analysis and profile stages, and of the Quickstart's whole-graph run.

    python bench/analysis.py [--part analysis|quickstart|all] [--repeat 3]

analysis: the real sample's features as of 2019-04-25 (4,113 accounts), cleaned as
clean_features does, then what elbow_analysis and tsne_embedding compute (K-means k = 1…10 with
silhouette, openTSNE Barnes-Hut), and investor_profiles' search; scikit-learn's t-SNE is timed
on the same matrix as the baseline. Each figure is the median of --repeat runs.

quickstart: the README's first command without the install: `dagster asset materialize` of the
graph through the scores on the simulated chain (3,000 accounts, 180 days), in a fresh
DAGSTER_HOME and data folder; wall time of the command. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.manifold import TSNE as SklearnTSNE

from eth_assets.models.dataset_rules import PASS_THROUGH, profile_inputs
from eth_assets.models.ml.cleaning import clean_dataset
from eth_assets.models.ml.clustering import elbow_analysis
from eth_assets.models.ml.embedding import log_standardise, tsne_embedding
from eth_assets.models.ml.profiles import build_profiles
from eth_assets.settings import shared_data_dir

# The frame builder shared with the scripts (scripts/sample_frames.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from sample_frames import default_cleaning_rules, profile_arguments, sample_feature_frame

AS_OF = datetime(2019, 4, 25, tzinfo=UTC)


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def analysis(repeat: int) -> None:
    flagged = sample_feature_frame(shared_data_dir() / "raw_txns", AS_OF).drop("first_seen")
    features = flagged
    dataset = clean_dataset(flagged, default_cleaning_rules(AS_OF), PASS_THROUGH)
    settings = profile_arguments()
    values = dataset.frame.select(dataset.cleaning.numeric_features).to_numpy().astype(float)
    matrix = log_standardise(values)
    strata = np.zeros(len(values), dtype=int).astype(str)
    inputs, active = profile_inputs(
        dataset.frame, features, dataset.cleaning, settings["feature_sets"]
    )
    print(f"{matrix.shape[0]:,} accounts × {matrix.shape[1]} features, median of {repeat} runs\n")
    figures = {
        "elbow_analysis (K-means k = 1…10, silhouette)": median_seconds(
            lambda: elbow_analysis(matrix, 10, 0, 5000), repeat
        ),
        "tsne_embedding: openTSNE Barnes-Hut + K-means colours": median_seconds(
            lambda: (
                tsne_embedding(values, strata, 10_000, 30.0, 0, 2),
                KMeans(3, n_init=4, random_state=0).fit(matrix),
            ),
            repeat,
        ),
        "baseline: scikit-learn t-SNE (Barnes-Hut, 2 threads)": median_seconds(
            lambda: SklearnTSNE(2, random_state=0, n_jobs=2, init="pca").fit_transform(matrix),
            repeat,
        ),
        "investor_profiles search (2 sets × 3 methods × k = 2…8)": median_seconds(
            lambda: build_profiles(inputs, active.to_numpy(), as_of=AS_OF.isoformat(), **settings),
            repeat,
        ),
    }
    print("| step | seconds |")
    print("|---|---:|")
    for name, seconds in figures.items():
        print(f"| {name} | {seconds:.1f} |")
    ours = list(figures.values())
    print(
        f"\nt-SNE + elbow: {ours[0] + ours[1]:.1f} s (goal < 60 s); openTSNE is "
        f"{ours[2] / ours[1]:.1f}× faster than scikit-learn's t-SNE here"
    )


def quickstart(repeat: int) -> None:
    command = [
        "dagster",
        "asset",
        "materialize",
        "-m",
        "eth_assets.definitions",
        "--select",
        "*address_scores,*tsne_embedding,*model_comparison",
        "--partition-range",
        "2021-01-01...2021-06-29",
    ]
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            home = Path(folder) / "home"
            home.mkdir()
            env = {
                **os.environ,
                "DAGSTER_HOME": str(home),
                "ETH_ASSETS_DATA_DIR": str(Path(folder) / "data"),
                "ETH_ASSETS_SOURCE": "simulated",
            }
            env.pop("MLFLOW_TRACKING_URI", None)
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    print(
        "Quickstart materialization of the whole graph (simulated chain, 180 days): "
        + ", ".join(f"{t:.0f} s" for t in times)
        + f"; median {statistics.median(times):.0f} s (goal < 120 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["analysis", "quickstart", "all"], default="all")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.part in ("analysis", "all"):
        analysis(args.repeat)
    if args.part in ("quickstart", "all"):
        quickstart(args.repeat)


if __name__ == "__main__":
    main()
