"""Calibration of the illicit classifier on the real sample: the isotonic map used before (in
sample and cross-fitted) beside every candidate cross-fitted on the CV's folds, and the scores
of the sample's accounts with the final model under each. The same functions as the
`illicit_classifier` asset, on the headline setting of scripts/classifier_cv.py (label-broadcast
tokens left out, accounts with activity, behaviour features, 10 folds, seed 0, default grid).

    python scripts/calibration_report.py [--as-of 2019-04-25] [--cache /tmp/calibration.pkl]

`--cache` keeps the cross-validation and the final model in a file outside the project, so the
calibration part can be run again without them. Brier and ECE (10 equal-width bins) are over
the 3,602 training accounts' out-of-fold probabilities; distinct values and the share at exactly
0 or 1 also over every account of the sample scored by the final model through
`IllicitModel.score`, as `address_scores` does (the accounts with activity are the ones it
publishes).
"""

from __future__ import annotations

import argparse
import pickle
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
from classifier_cv import features  # the real-sample frame builder of scripts/classifier_cv.py

from eth_assets.features.as_of import parse_as_of
from eth_assets.models.dataset_rules import (
    cleaning_rules,
    model_rules,
    read_label_file,
    training_labels,
)
from eth_assets.models.ml.calibration import (
    INTERVAL_GRID,
    confidence_words,
    cross_fit,
    fit_curve,
    markdown,
    max_f1_threshold,
    score_summary,
    sigmoid,
)
from eth_assets.models.ml.classifier import (
    GRIDS,
    Calibration,
    ClassifierSettings,
    cross_validate,
    fit_calibration,
    stratified_folds,
    train_final_model,
)
from eth_assets.settings import label_broadcast_tokens, shared_data_dir

BANDS = {"medium": 0.25, "critical": 0.9}


def isotonic_as_before(labels: np.ndarray, out_of_fold: np.ndarray) -> Calibration:
    """The calibration as it was: isotonic regression on every out-of-fold row, unbounded, the
    threshold maximising F1 of its in-sample values."""
    curve = fit_curve("isotonic", labels, out_of_fold, bounded=False)
    in_sample = curve.predict(out_of_fold)
    threshold = max_f1_threshold(labels, in_sample)
    bands = {"low": 0.0, **BANDS, "high": threshold}
    summary = score_summary(labels, in_sample)
    return Calibration(
        isotonic=None,
        threshold=threshold,
        bands=tuple(sorted(bands.items(), key=lambda item: item[1])),
        brier_before=score_summary(labels, out_of_fold)["brier"],
        brier_after=summary["brier"],
        threshold_rule="maximises F1 of the in-sample isotonic probabilities",
        curve=curve,
        rows=len(labels),
    )


def trained(cache: Path | None, as_of) -> dict[str, object]:
    """The sample's frame, labels, folds, out-of-fold probabilities and final model (from
    `cache` when it exists; the frame is always recomputed)."""
    raw_dir = shared_data_dir() / "raw_txns"
    table = features(raw_dir, as_of, label_broadcast_tokens())
    labels = training_labels(table, read_label_file(raw_dir / "accounts.csv"), "farrugia_flag")
    rows = table.join(labels.frame, on="address").sort("address").filter(pl.col("has_activity"))
    y = rows["label"].to_numpy().astype(int)
    frame = rows.drop("label", "is_labelled_illicit", "has_activity", "first_seen")
    everyone = table.sort("address")
    result: dict[str, object] = {"table": everyone, "y": y}
    if cache is not None and cache.is_file():
        with cache.open("rb") as handle:
            return {**result, **pickle.load(handle)}
    settings = ClassifierSettings(grid=GRIDS["small"])
    rules = model_rules(cleaning_rules(as_of, behaviour=True), store_dependent=False)
    folds = stratified_folds(y, 10, 0)
    started = time.perf_counter()
    cv = cross_validate(frame, y, rules, settings, folds)
    placeholder = isotonic_as_before(y, cv.out_of_fold)
    model, _ = train_final_model(
        frame, y, rules, settings, placeholder, as_of.isoformat(), "parquet:sample",
        cv.summary()["roc_auc"],
    )  # fmt: skip
    kept = {
        "folds": folds,
        "out_of_fold": cv.out_of_fold,
        "model": model,
        "seconds": time.perf_counter() - started,
        "roc_auc": cv.summary()["roc_auc"],
    }
    if cache is not None:
        with cache.open("wb") as handle:
            pickle.dump(kept, handle)
    return {**result, **kept}


def scored_row(name: str, scores: pl.DataFrame) -> str:
    """Distinct values and the share at exactly 0 or 1 of scored accounts, as table cells."""
    p = scores["probability"].to_numpy()
    extreme = int(((p == 0.0) | (p == 1.0)).sum())
    return (
        f"| {name} | {len(p):,} | {len(np.unique(p)):,} | {extreme:,} ({extreme / len(p):.2%}) "
        f"| {int(scores['is_flagged'].sum()):,} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", default="2019-04-25")
    parser.add_argument("--cache", default="", help="A file outside the project.")
    args = parser.parse_args()
    as_of = parse_as_of(args.as_of)
    run = trained(Path(args.cache) if args.cache else None, as_of)
    y, oof, folds, model = run["y"], run["out_of_fold"], run["folds"], run["model"]
    table: pl.DataFrame = run["table"]
    print(
        f"{len(y):,} training accounts ({int(y.sum()):,} illicit), 10-fold CV ROC-AUC "
        f"{run['roc_auc']:.4f}, CV and final model {run['seconds']:.0f} s\n"
    )

    before = isotonic_as_before(y, oof)
    started = time.perf_counter()
    after, report = fit_calibration(y, oof, BANDS, folds)
    seconds = time.perf_counter() - started
    print("| calibration of the out-of-fold probabilities | Brier | ECE | distinct values "
          "| share at exactly 0 or 1 |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    rows = [
        ("raw (out-of-fold)", oof),
        ("isotonic as before, in sample (fitted to the rows it scores)", before.calibrate(oof)),
        ("isotonic as before, cross-fitted", cross_fit("isotonic", y, oof, folds, False)),
        (f"{after.method} (chosen), cross-fitted", report.cross_fitted),
    ]
    for name, values in rows:
        s = score_summary(y, values)
        print(
            f"| {name} | {s['brier']:.5f} | {s['ece']:.4f} | {s['distinct_values']:,.0f} "
            f"| {s['extreme_share']:.2%} |"
        )
    print(f"\nevery candidate, chosen by cross-fitted Brier ({seconds:.1f} s with the bootstrap):")
    print(markdown(report))
    print(
        f"\nthreshold: {before.threshold:.4f} before (in-sample isotonic), {after.threshold:.4f} "
        f"after ({after.threshold_rule})"
    )

    active = table["has_activity"].to_numpy()
    scores = {
        "before": replace(model, calibration=before).score(table),
        "after": replace(model, calibration=after).score(table),
    }
    print("\n| scores of the sample's accounts | accounts | distinct values "
          "| exactly 0 or 1 | flagged |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for name, frame in scores.items():
        print(scored_row(f"{name}, every account", frame))
        print(scored_row(f"{name}, accounts with activity", frame.filter(pl.Series(active))))

    after_scores = scores["after"].filter(pl.Series(active))
    width = (after_scores["probability_high"] - after_scores["probability_low"]).to_numpy()
    words = [
        confidence_words(p, lo, hi, after.threshold).split(":")[0]
        for p, lo, hi in after_scores.select(
            "probability", "probability_low", "probability_high"
        ).iter_rows()
    ]
    print(
        f"\ninterval (5th-95th percentile, {after.interval_band.resamples} bootstrap resamples) "
        f"of the accounts with activity: width median {np.median(width):.4f}, 90th percentile "
        f"{np.quantile(width, 0.9):.4f}, max {width.max():.4f}; "
        f"{words.count('confident'):,} confident, {words.count('uncertain'):,} uncertain"
    )
    grid = sigmoid(INTERVAL_GRID)
    point = after.calibrate(grid)
    low, high = after.interval(grid)
    print("\n| calibrated probability | interval |\n|---:|---|")
    for target in (0.001, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999):
        at = int(np.argmin(np.abs(point - target)))
        print(f"| {point[at]:.4f} | {low[at]:.4f} to {high[at]:.4f} |")
    raw = scores["after"]["raw_probability"].to_numpy()
    started = time.perf_counter()
    after.calibrate(raw), after.interval(raw)
    many = time.perf_counter() - started
    timings = []
    for row in range(200):
        started = time.perf_counter()
        after.calibrate(raw[row : row + 1]), after.interval(raw[row : row + 1])
        timings.append(time.perf_counter() - started)
    print(
        f"calibration and interval of {len(raw):,} raw scores: {many * 1000:.1f} ms; "
        f"of one: median {np.median(timings) * 1e6:.0f} µs"
    )
    started = time.perf_counter()
    for row in range(50):
        replace(model, calibration=after).score(table[row : row + 1])
    print(
        f"IllicitModel.score of one account (CatBoost included): "
        f"{(time.perf_counter() - started) / 50 * 1000:.1f} ms mean over 50"
    )


if __name__ == "__main__":
    main()
