"""Plain functions behind the dataset and profile assets: the cleaning rules of the feature
table, the flags that ride along with it, and the inputs of the investor profiles.

The assets and scripts/profile_silhouettes.py call these, so the real-sample figures in the
README come from exactly the code the graph runs.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from eth_assets.features import BEHAVIOUR_COLUMNS, CATEGORICAL_COLUMNS, NUMERIC_FEATURE_COLUMNS
from eth_assets.ml.cleaning import Cleaning, CleaningRules, ether_supply
from eth_assets.ml.profiles import source_columns

# Columns that pass through the cleaning untouched and are never features.
PASS_THROUGH = ("address", "is_labelled_illicit", "has_activity")
# Farrugia's balance is received − sent − fees and may be negative; no other feature may.
MAY_BE_NEGATIVE = ("total_ether_balance",)
# No balance can exceed the ether in existence; history-derived ones can (internal transactions
# are not in the store), and those values are invalid.
BOUNDED_BY_SUPPLY = ("balance_eth", "total_ether_balance")


def cleaning_rules(
    as_of: datetime,
    max_zero_share: float = 0.9,
    min_level_count: int = 2,
    behaviour: bool = True,
) -> CleaningRules:
    """The rules for address_features (and, with `behaviour`, behaviour_features) as of `as_of`."""
    numeric = NUMERIC_FEATURE_COLUMNS + (BEHAVIOUR_COLUMNS if behaviour else [])
    return CleaningRules(
        numeric_columns=tuple(numeric),
        categorical_columns=tuple(CATEGORICAL_COLUMNS),
        may_be_negative=MAY_BE_NEGATIVE,
        upper_bounds=dict.fromkeys(BOUNDED_BY_SUPPLY, ether_supply(as_of)),
        max_zero_share=max_zero_share,
        min_level_count=min_level_count,
    )


def with_flags(
    features: pl.DataFrame, universe: pl.DataFrame, behaviour: pl.DataFrame | None = None
) -> pl.DataFrame:
    """address_features (joined to behaviour_features when given) plus `is_labelled_illicit`
    (from the universe) and `has_activity` (any transaction or token transfer before as_of)."""
    if behaviour is not None:
        missing = features.height - features.join(behaviour, on="address", how="semi").height
        if missing:
            raise ValueError(
                f"behaviour_features lacks {missing} addresses of address_features: "
                "materialize address_features again (it writes both)"
            )
        features = features.join(behaviour, on="address", how="left")
    return features.join(
        universe.select("address", "is_labelled_illicit"), on="address", how="left"
    ).with_columns(
        pl.col("is_labelled_illicit").fill_null(False),
        has_activity=(pl.col("total_transactions") + pl.col("total_erc20_tnxs")) > 0,
    )


def profile_inputs(
    cleaned: pl.DataFrame,
    features: pl.DataFrame,
    cleaning: Cleaning,
    feature_sets: tuple[str, ...] | list[str],
) -> tuple[pl.DataFrame, pl.Series]:
    """The address_features columns the feature sets need, for the cleaned addresses, with
    invalid values imputed by the fitted cleaning; and the `has_activity` flag."""
    rows = cleaned.select("address", "has_activity").join(features, on="address", how="left")
    imputed = cleaning.impute(rows, source_columns(*feature_sets))
    return pl.concat([rows.select("address"), imputed], how="horizontal"), rows["has_activity"]
