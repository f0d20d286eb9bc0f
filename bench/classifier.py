"""Benchmark of the classifier on the real sample (features as of 2019-04-25, label-broadcast
tokens left out, accounts with activity, behaviour features): the 10-fold CV with the default
grid against CatBoost's default parameters (1,000 iterations) as the baseline, both in this run;
and the latency of the SHAP reasons for one address. Not a test.

    python bench/classifier.py [--addresses 200] [--no-baseline]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from eth_assets.models.dataset_rules import (
    read_label_file,
    training_labels,
)
from eth_assets.models.ml.classifier import (
    GRIDS,
    ClassifierSettings,
    calibrate,
    cross_validate,
    train_final_model,
)
from eth_assets.scores.scoring import explain_one
from eth_assets.settings import shared_data_dir

# The frame builder shared with the scripts (scripts/sample_frames.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from sample_frames import default_cleaning_rules, default_folds, sample_feature_frame

AS_OF = datetime(2019, 4, 25, tzinfo=UTC)


def training_data() -> tuple[pl.DataFrame, np.ndarray]:
    """The classifier's rows as the graph builds them: accounts with activity, their labels."""
    raw_dir = shared_data_dir() / "raw_txns"
    flagged = sample_feature_frame(raw_dir, AS_OF).drop("first_seen")
    labels = training_labels(flagged, read_label_file(raw_dir / "accounts.csv"), "farrugia_flag")
    rows = flagged.join(labels.frame, on="address").filter(pl.col("has_activity")).sort("address")
    return rows.drop("label", "is_labelled_illicit", "has_activity"), rows["label"].to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=200)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    frame, labels = training_data()
    rules = default_cleaning_rules(AS_OF)
    folds = default_folds(labels)
    counts = np.bincount(labels)
    print(f"{frame.height:,} accounts ({counts[0]:,} normal, {counts[1]:,} illicit), 2 threads\n")
    print("| 10-fold CV | accuracy | ROC-AUC | seconds |")
    print("|---|---:|---:|---:|")
    runs = [("default grid (`small`, chosen per fold on inner validation)", GRIDS["small"])]
    if not args.no_baseline:
        runs.append(("baseline: CatBoost's default parameters (1,000 iterations)", {}))
    seconds = {}
    for name, grid in runs:
        settings = ClassifierSettings(grid=grid or {"iterations": [1000]})
        cv = cross_validate(frame, labels, rules, settings, folds)
        summary = cv.summary()
        seconds[name] = cv.seconds
        print(
            f"| {name} | {summary['accuracy']:.3f} | {summary['roc_auc']:.3f} | {cv.seconds:.1f} |"
        )
    if len(seconds) == 2:
        first, second = seconds.values()
        print(f"\nthe default grid is {second / first:.1f}× faster than CatBoost's defaults")
    calibration = calibrate(labels, np.clip(labels * 0.9 + 0.05, 0, 1), {"medium": 0.25})
    model, _ = train_final_model(
        frame, labels, rules, ClassifierSettings(grid=GRIDS["small"]), calibration,
        AS_OF.isoformat(), "bench", 0.0,
    )  # fmt: skip
    cleaned = model.cleaning.apply(frame, keep=())
    numeric = [n for n in model.features if cleaned[n].dtype != pl.Utf8]
    populations = {n: cleaned[n].to_numpy() for n in numeric}
    illicit = {n: v[labels == 1] for n, v in populations.items()}
    rows = np.random.default_rng(0).choice(frame.height, args.addresses, replace=False)
    for row in rows[:5]:  # warm-up
        explain_one(model, frame[int(row) : int(row) + 1], populations, illicit)
    times = []
    for row in rows:
        started = time.perf_counter()
        explain_one(model, frame[int(row) : int(row) + 1], populations, illicit)
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"\nSHAP reasons for one address (cleaning, TreeSHAP of one row, three sentences with "
        f"percentiles), {args.addresses} addresses: median {statistics.median(times):.1f} ms, "
        f"95th percentile {np.percentile(times, 95):.1f} ms (goal < 20 ms)"
    )


if __name__ == "__main__":
    main()
