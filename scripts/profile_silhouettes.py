"""Investor profiles of the real sample: silhouette per feature set, method and k, and the
profiles chosen, computed by the same functions as the `investor_profiles` asset.

    python scripts/profile_silhouettes.py [--as-of 2019-04-25] [--use behaviour]

Features of the 4,113 sample accounts ($ETH_ASSETS_SHARED_DATA/raw_txns) as of `--as-of`, with
label-broadcast tokens left out as address_features does, the asset's cleaning, then K-means /
Gaussian mixture / Ward over investor_profiles' default k range and feature sets;
entity kinds from the Etherscan labels when present.
"""

from __future__ import annotations

import argparse
import time

import polars as pl
from sample_frames import default_cleaning_rules, profile_arguments, sample_feature_frame

from eth_assets.features.as_of import parse_as_of
from eth_assets.labels.entity_labels import read_entity_labels
from eth_assets.models.dataset_rules import PASS_THROUGH, profile_inputs
from eth_assets.models.ml.cleaning import clean_dataset
from eth_assets.models.ml.profiles import build_profiles
from eth_assets.models.profile_assets import InvestorProfilesConfig
from eth_assets.settings import entity_labels_file, shared_data_dir


def markdown(frame: pl.DataFrame, digits: int = 3) -> str:
    """A Markdown table, floats rounded."""
    rounded = frame.with_columns(pl.col(pl.Float64).round(digits))
    lines = ["| " + " | ".join(rounded.columns) + " |", "|" + "---|" * rounded.width]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rounded.iter_rows()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", default="2019-04-25")
    defaults = InvestorProfilesConfig()
    parser.add_argument("--use", default=defaults.use_feature_set, choices=defaults.feature_sets)
    args = parser.parse_args()
    as_of = parse_as_of(args.as_of)
    started = time.perf_counter()
    table = sample_feature_frame(shared_data_dir() / "raw_txns", as_of).drop("first_seen")
    dataset = clean_dataset(table, default_cleaning_rules(as_of), PASS_THROUGH)
    settings = profile_arguments(use_feature_set=args.use)
    inputs, active = profile_inputs(
        dataset.frame, table, dataset.cleaning, settings["feature_sets"]
    )
    labels_path = entity_labels_file()
    profiles = build_profiles(
        inputs,
        active.to_numpy(),
        as_of=as_of.isoformat(),
        entity_labels=read_entity_labels(labels_path) if labels_path else {},
        **settings,
    )
    seconds = time.perf_counter() - started
    print(
        f"{table.height:,} accounts as of {as_of.date()}, {int(active.sum()):,} with activity; "
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
