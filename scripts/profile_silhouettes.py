"""Investor profiles of the real sample: silhouette per feature set, method and k, and the
profiles chosen, computed by the same functions as the `investor_profiles` asset.

    python scripts/profile_silhouettes.py [--as-of 2019-04-25] [--use behaviour]

Features of the 4,113 sample accounts ($ETH_ASSETS_SHARED_DATA/raw_txns) as of `--as-of`, with
label-broadcast tokens left out as address_features does, the asset's cleaning, then K-means /
Gaussian mixture / Ward for k = 2…8 on the app's three features and on the behavioural set;
entity kinds from the Etherscan labels when present.
"""

from __future__ import annotations

import argparse
import time

import duckdb
import polars as pl

from eth_assets.features.as_of import parse_as_of
from eth_assets.features.farrugia import register_sample_views
from eth_assets.features.feature_tables import create_address_features
from eth_assets.labels.entity_labels import read_entity_labels
from eth_assets.models.dataset_rules import PASS_THROUGH, cleaning_rules, profile_inputs, with_flags
from eth_assets.models.ml.cleaning import clean_dataset
from eth_assets.models.ml.profiles import build_profiles
from eth_assets.settings import entity_labels_file, label_broadcast_tokens, shared_data_dir

FEATURE_SETS = ("app", "behaviour")


def markdown(frame: pl.DataFrame, digits: int = 3) -> str:
    """A Markdown table, floats rounded."""
    rounded = frame.with_columns(pl.col(pl.Float64).round(digits))
    lines = ["| " + " | ".join(rounded.columns) + " |", "|" + "---|" * rounded.width]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rounded.iter_rows()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", default="2019-04-25")
    parser.add_argument("--use", default="behaviour", choices=FEATURE_SETS)
    args = parser.parse_args()
    as_of = parse_as_of(args.as_of)
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'").fetchall()
    register_sample_views(con, shared_data_dir() / "raw_txns", label_broadcast_tokens())
    create_address_features(con, as_of, "address_features")
    features = con.sql("SELECT * FROM address_features").pl()
    universe = features.select("address", is_labelled_illicit=pl.lit(False))
    rules = cleaning_rules(as_of, behaviour=False)  # profiles use address_features only
    dataset = clean_dataset(with_flags(features, universe), rules, PASS_THROUGH)
    inputs, active = profile_inputs(dataset.frame, features, dataset.cleaning, FEATURE_SETS)
    labels_path = entity_labels_file()
    profiles = build_profiles(
        inputs,
        active.to_numpy(),
        FEATURE_SETS,
        args.use,
        range(2, 9),
        min_cluster_share=0.02,
        min_k=3,
        seed=0,
        as_of=as_of.isoformat(),
        entity_labels=read_entity_labels(labels_path) if labels_path else {},
    )
    seconds = time.perf_counter() - started
    print(
        f"{features.height:,} accounts as of {as_of.date()}, {int(active.sum()):,} with activity; "
        f"{seconds:.1f} s\n"
    )
    print(markdown(profiles.candidates))
    chosen = profiles.chosen
    print(
        f"\nchosen: {chosen.feature_set} / {chosen.method} / k = {chosen.k}: silhouette "
        f"{chosen.silhouette:.3f} without the inactive accounts, "
        f"{chosen.silhouette_with_inactive:.3f} with them as one more group\n"
    )
    print(markdown(profiles.summary, digits=2))


if __name__ == "__main__":
    main()
