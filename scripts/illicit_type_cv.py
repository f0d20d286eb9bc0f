"""The type of illicit activity on the real sample: the illicit_type_model asset's function on
the sample's illicit accounts with activity, their types from the label lists' categories.

    python scripts/illicit_type_cv.py [--as-of 2019-04-25] [--min-examples N] [--folds K]

(defaults: illicit_type_model's Config)

Illicit: `farrugia_flag` 1 in $ETH_ASSETS_SHARED_DATA/raw_txns/accounts.csv, as the training_set
asset reads it for the Parquet source, with a transaction or token transfer before the cut-off.
Types: the categories of labels/illicit_addresses_union.csv (the four lists, read as
illicit_labels reads a CSV). Features as the pipeline computes them (label-broadcast tokens out).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl
from sample_frames import default_cleaning_rules, sample_feature_frame

from eth_assets.features.as_of import parse_as_of
from eth_assets.labels.label_files import read_label_files
from eth_assets.models.dataset_rules import (
    model_rules,
    read_label_file,
    training_labels,
)
from eth_assets.models.illicit_type_assets import IllicitTypeConfig
from eth_assets.models.ml.era import first_activity_days
from eth_assets.models.ml.illicit_type import TypeSettings, markdown, train_illicit_type
from eth_assets.settings import shared_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", default="2019-04-25")
    defaults = IllicitTypeConfig()
    parser.add_argument("--min-examples", type=int, default=defaults.min_examples)
    parser.add_argument("--folds", type=int, default=defaults.folds)
    parser.add_argument("--plot", default="", help="Write the confusion matrix PNG here.")
    args = parser.parse_args()
    as_of = parse_as_of(args.as_of)
    shared = shared_data_dir()
    table = sample_feature_frame(shared / "raw_txns", as_of)
    accounts = read_label_file(shared / "raw_txns" / "accounts.csv")
    labels = training_labels(table, accounts, "farrugia_flag")
    illicit = (
        table.join(labels.frame.filter(pl.col("label") == 1), on="address")
        .filter(pl.col("has_activity"))
        .sort("address")
    )
    lists = read_label_files([shared / "labels" / "illicit_addresses_union.csv"]).labels
    started = time.perf_counter()
    run = train_illicit_type(
        illicit.drop("label", "is_labelled_illicit", "has_activity", "first_seen"),
        lists,
        model_rules(default_cleaning_rules(as_of), store_dependent=False),  # the graph's default
        TypeSettings(
            min_examples=args.min_examples,
            folds=args.folds,
            seed=defaults.seed,
            threads=defaults.threads,
        ),
        first_activity_days(illicit["first_seen"]),
        Path(args.plot) if args.plot else None,
    )
    print(f"{illicit.height} illicit accounts with activity as of {as_of:%Y-%m-%d}")
    print(f"{time.perf_counter() - started:.1f} s\n")
    print(markdown(run))
    print("\nconfusion (rows true, columns predicted):")
    print(run.confusion)
    print("\nraw categories of these accounts' entries:")
    with pl.Config(tbl_rows=40):
        print(run.types.by_category.head(40))


if __name__ == "__main__":
    main()
