"""Behaviour or era? The real-sample classifier beside the first-activity-date baseline, with and
without the store-dependent features, on the real sample (10-fold CV), on xblock_2019 (within-set
CV and the real-sample model on its unseen accounts, within size bands and era/size-matched) and
on phish_2022 (the real-sample model with no retraining). The same functions as the
`illicit_classifier`, `era_matched_evaluation` and `out_of_time_evaluation` assets.

    python scripts/era_evaluation.py [--as-of 2019-04-25] [--skip-cv]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import polars as pl

from eth_assets.features.as_of import parse_as_of
from eth_assets.features.feature_tables import STORE_DEPENDENT_COLUMNS
from eth_assets.models.dataset_rules import cleaning_rules
from eth_assets.models.evaluation_sets import folder_end, folder_features, read_labelled_accounts
from eth_assets.models.ml.classifier import ClassifierSettings, cross_validate, stratified_folds
from eth_assets.models.ml.cleaning import CleaningRules
from eth_assets.models.ml.era import evaluate_era, first_activity_days
from eth_assets.models.ml.era import markdown as era_markdown
from eth_assets.models.ml.held_out import (
    evaluate_scores,
    held_out_evaluation,
    markdown,
    restricted_rules,
)
from eth_assets.models.xblock import SUPPORTED, read_xblock, xblock_features
from eth_assets.settings import label_broadcast_tokens, market_gas_prices_file, shared_data_dir


def real_sample(as_of) -> pl.DataFrame:
    """The real sample's active labelled accounts as the graph computes them (label tokens left
    out, the market gas reference), with `label` and `first_seen`."""
    raw = shared_data_dir() / "raw_txns"
    accounts = pl.read_csv(raw / "accounts.csv", infer_schema=False).filter(
        (pl.col("in_subset").str.to_lowercase() == "true")
        & pl.col("farrugia_flag").is_in(["0", "1"])
    )
    accounts = accounts.select("address", label=pl.col("farrugia_flag").cast(pl.Int8))
    frame = folder_features(
        raw, accounts, as_of, label_broadcast_tokens(), market_gas_prices_file()
    )
    return frame.filter(pl.col("has_activity"))


def without_store(rules: CleaningRules, keep: bool) -> CleaningRules:
    """`rules` without the store-dependent features unless `keep`."""
    if keep:
        return rules
    kept = tuple(c for c in rules.numeric_columns if c not in STORE_DEPENDENT_COLUMNS)
    return replace(rules, numeric_columns=kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--as-of", default="2019-04-25")
    parser.add_argument("--skip-cv", action="store_true", help="skip the real-sample CV")
    args = parser.parse_args()
    as_of = parse_as_of(args.as_of)
    train = real_sample(as_of)
    labels = train["label"].to_numpy().astype(int)
    days = first_activity_days(train["first_seen"])
    rules = cleaning_rules(as_of)
    settings = ClassifierSettings()
    print(
        f"real sample as of {as_of.date()}: {int((labels == 0).sum())} normal / "
        f"{int((labels == 1).sum())} illicit accounts with activity"
    )
    for keep in (True, False):
        name = "with" if keep else "without"
        chosen = without_store(rules, keep)
        if not args.skip_cv:
            started = time.perf_counter()
            folds = stratified_folds(labels, 10, 0)
            cv = cross_validate(train, labels, chosen, settings, folds)
            numeric = list(chosen.numeric_columns)
            matrix = train.select(numeric).to_numpy().astype(float)
            report = evaluate_era(labels, cv.out_of_fold, days, folds, matrix, numeric)
            s = cv.summary()
            print(
                f"\n## real sample, 10-fold CV, {name} the store-dependent features "
                f"({time.perf_counter() - started:.0f} s): accuracy {s['accuracy']:.3f} ± "
                f"{s['accuracy_sd']:.3f}, ROC-AUC {s['roc_auc']:.3f} ± {s['roc_auc_sd']:.3f}"
            )
            print(era_markdown(report))
        # xblock_2019
        xb = xblock_features(read_xblock(shared_data_dir() / "xblock_2019"))
        features = tuple(f for f in SUPPORTED if keep or f not in STORE_DEPENDENT_COLUMNS)
        held = held_out_evaluation(
            xb,
            xb["label"].to_numpy().astype(int),
            first_activity_days(xb["first_activity"]),
            ~xb["in_raw_txns"].to_numpy().astype(bool),
            train,
            labels,
            days,
            restricted_rules(rules, features),
            ClassifierSettings(folds=5),
        )
        print(f"\n## xblock_2019, {name} the store-dependent features ({len(features)} features)")
        print(f"within-set 5-fold CV, {held.within_counts}:\n{markdown(held.within)}")
        print(
            f"\nreal-sample model on unseen accounts, {held.outside_counts}:\n"
            f"{markdown(held.outside)}"
        )
        # phish_2022
        from eth_assets.models.ml.classifier import choose_params, fit_classifier
        from eth_assets.models.ml.era import fit_date_model
        from eth_assets.models.ml.held_out import SIZE_FEATURE, one_feature_model

        folder = shared_data_dir() / "phish_2022"
        accounts = read_labelled_accounts(folder / "accounts.csv", "label")
        oot = folder_features(
            folder, accounts, folder_end(folder), label_broadcast_tokens(), market_gas_prices_file()
        )
        params, _ = choose_params(train, labels, chosen, settings)
        model = fit_classifier(train, labels, chosen, params, settings)
        oot_labels = oot["label"].to_numpy().astype(int)
        oot_days = first_activity_days(oot["first_seen"])
        scores = {
            "model": model.predict_proba(oot),
            "date_only": fit_date_model(days, labels).predict_proba(oot_days.reshape(-1, 1))[:, 1],
            "size_only": one_feature_model(
                train[SIZE_FEATURE].to_numpy().astype(float), labels
            ).predict_proba(oot[SIZE_FEATURE].to_numpy().astype(float).reshape(-1, 1))[:, 1],
        }
        active = oot["has_activity"].to_numpy()
        window = (
            np.nan_to_num(oot_days, nan=np.inf)
            < first_activity_days(pl.Series([parse_as_of("2019-04-25")]))[0]
        )
        print(
            f"\n## phish_2022, the real-sample model with no retraining, {name} the "
            "store-dependent features"
        )
        for subset, mask in (
            ("all", np.ones(len(oot_labels), bool)),
            ("active", active),
            ("active, first activity before 2019-04-25", active & window),
        ):
            table = evaluate_scores(
                oot_labels[mask],
                {k: v[mask] for k, v in scores.items()},
                oot[SIZE_FEATURE].to_numpy().astype(float)[mask],
                oot_days[mask],
            )
            print(f"{subset}:\n{markdown(table.head(1))}")


if __name__ == "__main__":
    main()
