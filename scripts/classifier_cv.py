"""The illicit-account classifier on the real sample: 10-fold CV with and without the
label-broadcast tokens, with and without accounts that have no activity, with and without the
behaviour features; the paper's table over k; the model comparison. The same functions as the
`training_set`, `illicit_classifier` and `model_comparison` assets.

    python scripts/classifier_cv.py [--as-of 2019-04-25] [--grid small] [--no-comparison]

Labels: `farrugia_flag` of $ETH_ASSETS_SHARED_DATA/raw_txns/accounts.csv (1 illicit, 0 normal),
as the training_set asset reads it for the Parquet source.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl
from sample_frames import (
    default_cleaning_rules,
    default_folds,
    profile_arguments,
    sample_feature_frame,
)
from sklearn.metrics import accuracy_score, roc_auc_score

from eth_assets.features.as_of import parse_as_of
from eth_assets.models.dataset_rules import (
    PASS_THROUGH,
    cleaning_rules,
    model_rules,
    profile_inputs,
    read_label_file,
    training_labels,
)
from eth_assets.models.ml.classifier import (
    GRIDS,
    METRICS,
    ClassifierSettings,
    cross_validate,
    train_illicit_classifier,
)
from eth_assets.models.ml.cleaning import clean_dataset
from eth_assets.models.ml.comparison import compare_models
from eth_assets.models.ml.comparison import markdown as comparison_markdown
from eth_assets.models.ml.era import (
    date_only_out_of_fold,
    era_matched,
    first_activity_days,
    quarter_of,
)
from eth_assets.models.ml.profiles import build_profiles
from eth_assets.settings import label_broadcast_tokens, shared_data_dir

PAPERS = [
    ("CatBoost paper (Zhou et al.), published", "0.943", "0.985"),
    ("XGBoost, Farrugia et al. 2020, published", "0.963", "0.994"),
]


def era_cells(y: np.ndarray, out_of_fold: np.ndarray, days: np.ndarray) -> str:
    """The date-only baseline on the same folds and the era-matched ROC-AUC, as table cells."""
    folds = default_folds(y)
    date = date_only_out_of_fold(days, y, folds)
    matched = era_matched(y, out_of_fold, date, quarter_of(days))
    date_auc, date_accuracy = roc_auc_score(y, date), accuracy_score(y, date >= 0.5)
    era = f"{matched.model['roc_auc']:.3f}" if matched.measurable else (
        f"not measurable ({matched.effective_illicit:.0f} illicit / "
        f"{matched.effective_normal:.0f} normal in the overlap)"
    )  # fmt: skip
    return f"{date_accuracy:.3f} | {date_auc:.3f} | {era}"


def profile_ids(table: pl.DataFrame, as_of, addresses: pl.Series) -> np.ndarray:
    """The investor profile of each address, as investor_profiles assigns it by default."""
    settings = profile_arguments()
    dataset = clean_dataset(table, default_cleaning_rules(as_of), PASS_THROUGH)
    inputs, active = profile_inputs(
        dataset.frame, table, dataset.cleaning, settings["feature_sets"]
    )
    profiles = build_profiles(inputs, active.to_numpy(), as_of=as_of.isoformat(), **settings)
    assigned = addresses.to_frame().join(profiles.assignments, on="address", how="left")
    return assigned["profile_id"].cast(pl.Utf8).to_numpy()


def cell(summary: dict[str, float], metric: str) -> str:
    return f"{summary[metric]:.3f} ± {summary[metric + '_sd']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", default="2019-04-25")
    parser.add_argument("--grid", default="small", choices=sorted(GRIDS))
    parser.add_argument("--no-comparison", action="store_true")
    args = parser.parse_args()
    as_of = parse_as_of(args.as_of)
    raw_dir = shared_data_dir() / "raw_txns"
    accounts = read_label_file(raw_dir / "accounts.csv")
    settings = ClassifierSettings(grid=GRIDS[args.grid])
    tokens = label_broadcast_tokens()
    with_tokens = sample_feature_frame(raw_dir, as_of, ())
    without_tokens = sample_feature_frame(raw_dir, as_of, tokens)
    labels = training_labels(without_tokens, accounts, "farrugia_flag")
    print(f"labels: {labels.rule}; left out: {labels.left_out}\n")

    rows = []
    headline = None
    variants = [
        ("published setting: label tokens kept, every account", with_tokens, False, False),
        ("label-broadcast tokens left out, every account", without_tokens, False, False),
        ("label tokens left out, accounts with activity", without_tokens, True, False),
        ("same, plus the behaviour features (headline)", without_tokens, True, True),
    ]
    for name, table, active_only, behaviour in variants:
        rows_of = table.join(labels.frame, on="address").sort("address")
        if active_only:
            rows_of = rows_of.filter(pl.col("has_activity"))
        y = rows_of["label"].to_numpy().astype(int)
        days = first_activity_days(rows_of["first_seen"])
        frame = rows_of.drop("label", "is_labelled_illicit", "has_activity", "first_seen")
        rules = model_rules(cleaning_rules(as_of, behaviour=behaviour), store_dependent=False)
        if behaviour:
            started = time.perf_counter()
            run = train_illicit_classifier(
                frame, y, default_folds(y), rules, settings,
                {"medium": 0.25, "critical": 0.9}, as_of.isoformat(), "parquet:sample",
            )  # fmt: skip
            summary, seconds = run.cv.summary(), run.cv.seconds
            out_of_fold = run.cv.out_of_fold
            headline = (frame, y, rules, run, time.perf_counter() - started, days)
        else:
            result = cross_validate(frame, y, rules, settings)
            summary, seconds, out_of_fold = result.summary(), result.seconds, result.out_of_fold
        counts = np.bincount(y, minlength=2)
        rows.append(
            f"| {name} | {counts[0]:,} / {counts[1]:,} | {cell(summary, 'accuracy')} | "
            f"{cell(summary, 'roc_auc')} | {era_cells(y, out_of_fold, days)} | "
            f"{cell(summary, 'f1')} | {seconds:.0f} s |"
        )
        print(rows[-1], flush=True)

    print(
        "\n| model and features | normal / illicit | accuracy | ROC-AUC | date only: accuracy "
        "| date only: ROC-AUC | era-matched ROC-AUC | F1 | CV time |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for name, accuracy, auc in PAPERS:
        print(f"| {name} | 2,502 / 2,179 | {accuracy} | {auc} | not published | | | | |")
    print("\n".join(rows))

    assert headline is not None
    frame, y, rules, run, seconds, days = headline
    print(f"\nheadline setting, CV + final model + paper table: {seconds:.0f} s")
    print(f"final parameters: {run.model.params}")
    print(
        f"calibration ({run.calibration.method}): Brier {run.calibration.brier_before:.4f} raw, "
        f"{run.calibration.brier_after:.4f} cross-fitted; "
        f"threshold {run.calibration.threshold:.3f}; bands "
        + ", ".join(f"{n} ≥ {b:.3f}" for n, b in run.calibration.bands)
    )
    print("\n| k folds | " + " | ".join(METRICS) + " |")
    print("|---:|" + "---:|" * len(METRICS))
    for row in run.paper_table.iter_rows(named=True):
        print(
            f"| {row['folds']} | "
            + " | ".join(f"{row[m]:.3f} ± {row[m + '_sd']:.3f}" for m in METRICS)
            + " |"
        )
    print("\ntop features (mean CatBoost importance over the folds):")
    print(", ".join(f"{f} {v:.1f}" for f, v in run.cv.importance.head(10).iter_rows()))
    if not args.no_comparison:
        started = time.perf_counter()
        params = {"depth": 6, "learning_rate": 0.15, "iterations": 200, "border_count": 128}
        comparison = compare_models(
            frame, y, default_folds(y), rules, params,
            profiles=profile_ids(without_tokens.drop("first_seen"), as_of, frame["address"]),
            days=days,
        )  # fmt: skip
        print(f"\nmodel comparison, same 10 folds ({time.perf_counter() - started:.0f} s):\n")
        print(comparison_markdown(comparison.table))


if __name__ == "__main__":
    main()
