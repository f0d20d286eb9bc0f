"""Plain functions behind the dataset and profile assets: the cleaning rules of the feature
table, the flags that ride along with it, and the inputs of the investor profiles.

The assets and scripts/profile_silhouettes.py call these, so the real-sample figures in the
README come from exactly the code the graph runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from eth_assets.features.as_of import parse_as_of
from eth_assets.features.feature_tables import (
    BEHAVIOUR_COLUMNS,
    CATEGORICAL_COLUMNS,
    NUMERIC_FEATURE_COLUMNS,
    STORE_DEPENDENT_COLUMNS,
)
from eth_assets.models.ml.cleaning import Cleaning, CleaningRules, ether_supply
from eth_assets.models.ml.era import first_activity_days
from eth_assets.models.ml.profile_features import source_columns

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


@dataclass(frozen=True)
class TrainingLabels:
    """A label per address (1 illicit, 0 normal), the rule that gave it, and what was left out."""

    frame: pl.DataFrame  # address, label
    rule: str
    left_out: dict[str, int]


def training_labels(
    universe: pl.DataFrame,
    label_file: pl.DataFrame | None,
    label_column: str,
    illicit_values: tuple[str, ...] = ("1",),
    normal_values: tuple[str, ...] = ("0",),
) -> TrainingLabels:
    """Labels of the universe's addresses.

    With a label file that has `label_column` (the real sample's accounts.csv has
    `farrugia_flag`): its values decide, and addresses with any other value or missing from the
    file are left out and counted. Otherwise the label lists decide: illicit when on a list
    (`is_labelled_illicit`), normal when on none — an assumption, since a list misses some.
    """
    if label_file is not None and label_column in label_file.columns:
        values = label_file.select(
            pl.col("address").str.strip_chars().str.to_lowercase(),
            pl.col(label_column).cast(pl.Utf8).str.strip_chars().alias("value"),
        ).unique(subset="address", keep="first")
        joined = universe.select("address").join(values, on="address", how="left")
        labelled = joined.with_columns(
            label=pl.when(pl.col("value").is_in(list(illicit_values)))
            .then(1)
            .when(pl.col("value").is_in(list(normal_values)))
            .then(0)
            .otherwise(None)
            .cast(pl.Int8)
        )
        unknown = labelled.filter(pl.col("label").is_null())
        left_out = {
            "not in the label file": int(unknown["value"].is_null().sum()),
            f"{label_column} neither {'/'.join(illicit_values)} nor {'/'.join(normal_values)}": int(
                unknown["value"].is_not_null().sum()
            ),
        }
        return TrainingLabels(
            frame=labelled.filter(pl.col("label").is_not_null()).select("address", "label"),
            rule=(
                f"{label_column} in the label file: {'/'.join(illicit_values)} illicit, "
                f"{'/'.join(normal_values)} normal"
            ),
            left_out={k: v for k, v in left_out.items() if v},
        )
    return TrainingLabels(
        frame=universe.select("address", label=pl.col("is_labelled_illicit").cast(pl.Int8)),
        rule=(
            "illicit: on a label list (illicit_labels); normal: on no list. Assumption: an "
            "unlisted address is normal, though the lists miss some illicit ones"
        ),
        left_out={},
    )


def training_rows(
    flagged: pl.DataFrame, training_set: pl.DataFrame
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """The feature rows of the training addresses (sorted by address, so row order never
    matters), their labels and their cross-validation folds, from the `training_set` table."""
    rows = (
        training_set.filter(pl.col("in_training"))
        .select("address", "label", "fold")
        .join(flagged, on="address", how="inner")
        .sort("address")
    )
    if rows.height != training_set.filter(pl.col("in_training")).height:
        raise ValueError(
            "training_set lists addresses that address_features lacks: materialize "
            "address_features, clean_features and training_set again"
        )
    labels = rows["label"].to_numpy().astype(int)
    folds = rows["fold"].to_numpy().astype(int)
    return rows.drop("label", "fold", *[c for c in PASS_THROUGH if c != "address"]), labels, folds


def first_activity(training_set: pl.DataFrame, frame: pl.DataFrame) -> np.ndarray:
    """The first-activity time of each row of `frame` (days since the epoch, NaN without
    activity), from the `training_set` table: for the era-aware evaluation, never a feature."""
    rows = frame.select("address").join(
        training_set.select("address", "first_seen"), on="address", how="left"
    )
    return first_activity_days(rows["first_seen"])


def model_rules(rules: CleaningRules, store_dependent: bool) -> CleaningRules:
    """The cleaning rules a model trains with: without the store-dependent features (whose
    value depends on which other accounts the store holds) unless `store_dependent`."""
    if store_dependent:
        return rules
    kept = tuple(c for c in rules.numeric_columns if c not in STORE_DEPENDENT_COLUMNS)
    return replace(rules, numeric_columns=kept)


def rules_of_fit(fit: dict[str, str]) -> CleaningRules:
    """The cleaning rules clean_features used, from its stored fit (for refitting per fold)."""
    return cleaning_rules(
        parse_as_of(fit["as_of"]),
        float(fit["max_zero_share"]),
        int(fit["min_level_count"]),
        fit["behaviour_features"] == "True",
    )


def read_label_file(path: Path) -> pl.DataFrame:
    """A CSV (every column as text) or Parquet file with an `address` column."""
    if not path.is_file():
        raise FileNotFoundError(f"label file {str(path)!r} does not exist")
    frame = (
        pl.read_parquet(path)
        if path.suffix == ".parquet"
        else pl.read_csv(path, infer_schema_length=0)
    )
    if "address" not in frame.columns:
        raise ValueError(f"label file {str(path)!r} has no `address` column: {frame.columns}")
    return frame
