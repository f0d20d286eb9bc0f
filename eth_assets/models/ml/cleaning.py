"""Cleaning of the per-address feature table, as a fitted, saved transform.

The CatBoost paper's rule made explicit: invalid values (NaN, ±inf, negative where the feature
cannot be negative, beyond a stated upper bound) become missing and are replaced by the column
mean; columns with more than a threshold share of zeros are dropped; duplicate addresses are
removed; token names stay as categorical columns. `fit_cleaning` learns the transform from one
frame (the whole table, or a training fold), `Cleaning.apply` applies exactly that transform to
any frame, so every consumer of the features sees the same columns, means and levels.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from eth_assets.common.files import write_text_atomic

NO_TOKEN = "(none)"  # level of a token-name column for an account without token activity
OTHER_TOKEN = "(other)"  # level of a token name not seen often enough when fitting

# Ether in existence on a few dates (genesis, the block-reward cuts, the Merge), in ETH; supply
# between them is interpolated linearly and is flat after the last one. A balance above it is
# impossible; it appears for contracts whose outgoing ether moves in internal transactions.
ETHER_SUPPLY_POINTS: tuple[tuple[str, float], ...] = (
    ("2015-07-30", 72_009_990.0),
    ("2017-10-16", 95_600_000.0),
    ("2019-02-28", 105_100_000.0),
    ("2022-09-15", 120_500_000.0),
)


def ether_supply(as_of: datetime) -> float:
    """An upper estimate of the ether supply (ETH) at `as_of` from ETHER_SUPPLY_POINTS."""
    points = [
        (datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp(), eth)
        for day, eth in ETHER_SUPPLY_POINTS
    ]
    moment = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of
    stamps, supplies = zip(*points, strict=True)
    return float(np.interp(moment.timestamp(), stamps, supplies))


@dataclass(frozen=True)
class CleaningRules:
    """What counts as invalid and what gets dropped."""

    numeric_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...] = ()
    may_be_negative: tuple[str, ...] = ()
    upper_bounds: dict[str, float] = field(default_factory=dict)
    max_zero_share: float = 0.9
    min_level_count: int = 2
    max_levels: int = 200


@dataclass(frozen=True)
class ColumnReport:
    """Per column: invalid values found by kind, values imputed, and whether it was dropped."""

    column: str
    nan: int
    infinite: int
    negative: int
    above_bound: int
    imputed: int
    zero_share: float
    dropped: str  # "" when kept, else why


@dataclass(frozen=True)
class Cleaning:
    """A fitted cleaning: kept numeric and categorical columns, means, bounds and levels."""

    numeric_features: tuple[str, ...]
    categorical_features: tuple[str, ...]
    means: dict[str, float]
    dropped: dict[str, str]
    levels: dict[str, tuple[str, ...]]
    may_be_negative: tuple[str, ...]
    upper_bounds: dict[str, float]

    @property
    def features(self) -> tuple[str, ...]:
        """Every model feature, numeric first, then categorical."""
        return self.numeric_features + self.categorical_features

    def invalid_mask(self, column: str) -> pl.Expr:
        """True where `column` holds a value the rules call invalid."""
        return invalid_expr(column, column in self.may_be_negative, self.upper_bounds.get(column))

    def impute(self, frame: pl.DataFrame, columns: tuple[str, ...] | list[str]) -> pl.DataFrame:
        """`columns` of `frame` as float with invalid values replaced by the fitted means."""
        missing = [c for c in columns if c not in self.means]
        if missing:
            raise KeyError(f"the cleaning was not fitted on columns {missing}")
        return frame.select(
            pl.when(self.invalid_mask(c))
            .then(pl.lit(self.means[c]))
            .otherwise(pl.col(c).cast(pl.Float64))
            .alias(c)
            for c in columns
        )

    def encode_levels(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The categorical columns mapped to the fitted levels (unseen → OTHER, NULL → NONE)."""
        return frame.select(
            pl.when(pl.col(c).is_null() | (pl.col(c).str.strip_chars() == ""))
            .then(pl.lit(NO_TOKEN))
            .when(pl.col(c).is_in(list(self.levels[c])))
            .then(pl.col(c))
            .otherwise(pl.lit(OTHER_TOKEN))
            .alias(c)
            for c in self.categorical_features
        )

    def apply(self, frame: pl.DataFrame, keep: tuple[str, ...] = ("address",)) -> pl.DataFrame:
        """`keep` columns, then every model feature cleaned exactly as fitted."""
        return pl.concat(
            [
                frame.select(keep),
                self.impute(frame, self.numeric_features),
                self.encode_levels(frame),
            ],
            how="horizontal",
        )

    def to_json(self) -> str:
        """The fitted cleaning as JSON (what `save` writes and `load_cleaning` reads)."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    def save(self, path: Path) -> Path:
        """Write the cleaning to `path` atomically (a temporary file renamed over it)."""
        return write_text_atomic(path, self.to_json())


def cleaning_from_json(text: str) -> Cleaning:
    """A cleaning from the JSON `Cleaning.to_json` wrote."""
    raw = json.loads(text)
    return Cleaning(
        numeric_features=tuple(raw["numeric_features"]),
        categorical_features=tuple(raw["categorical_features"]),
        means={k: float(v) for k, v in raw["means"].items()},
        dropped=dict(raw["dropped"]),
        levels={k: tuple(v) for k, v in raw["levels"].items()},
        may_be_negative=tuple(raw["may_be_negative"]),
        upper_bounds={k: float(v) for k, v in raw["upper_bounds"].items()},
    )


def load_cleaning(path: Path) -> Cleaning:
    """A cleaning written by `Cleaning.save`."""
    if not path.is_file():
        raise FileNotFoundError(f"no fitted cleaning at {path}: materialize clean_features first")
    return cleaning_from_json(path.read_text(encoding="utf-8"))


def invalid_expr(column: str, may_be_negative: bool, upper_bound: float | None) -> pl.Expr:
    """Polars expression: NULL, NaN, ±inf, negative (unless allowed) or above the bound."""
    value = pl.col(column).cast(pl.Float64)
    invalid = value.is_null() | value.is_nan() | value.is_infinite()
    if not may_be_negative:
        invalid = invalid | (value < 0)
    if upper_bound is not None:
        invalid = invalid | (value > upper_bound)
    return invalid.fill_null(True)


def _column_report(frame: pl.DataFrame, column: str, rules: CleaningRules) -> dict[str, object]:
    value = pl.col(column).cast(pl.Float64)
    bound = rules.upper_bounds.get(column)
    counts = frame.select(
        nan=(value.is_null() | value.is_nan()).sum(),
        infinite=value.is_infinite().sum(),
        negative=(pl.lit(0) if column in rules.may_be_negative else (value < 0).sum()),
        above_bound=pl.lit(0) if bound is None else (value > bound).sum(),
        invalid=invalid_expr(column, column in rules.may_be_negative, bound).sum(),
        zeros=(value == 0).sum(),
    ).row(0, named=True)
    return {k: int(v or 0) for k, v in counts.items()}


def fit_cleaning(frame: pl.DataFrame, rules: CleaningRules) -> tuple[Cleaning, list[ColumnReport]]:
    """Learn means, dropped columns and levels from `frame`; and what was found per column."""
    rows = frame.height
    if rows == 0:
        raise ValueError("cannot fit a cleaning on an empty feature table")
    missing = [c for c in (*rules.numeric_columns, *rules.categorical_columns) if c not in frame]
    if missing:
        raise KeyError(f"feature table has no columns {missing}; it has {frame.columns}")
    means: dict[str, float] = {}
    dropped: dict[str, str] = {}
    reports: list[ColumnReport] = []
    for column in rules.numeric_columns:
        counts = _column_report(frame, column, rules)
        valid = frame.filter(
            ~invalid_expr(column, column in rules.may_be_negative, rules.upper_bounds.get(column))
        )[column].cast(pl.Float64)
        mean = float(valid.mean()) if valid.len() else 0.0
        means[column] = 0.0 if mean is None or math.isnan(mean) else mean
        zero_share = counts["zeros"] / rows
        reason = ""
        if valid.len() == 0:
            reason = "no valid value"
        elif zero_share > rules.max_zero_share:
            reason = f"{zero_share:.1%} zeros > {rules.max_zero_share:.0%}"
        elif float(valid.min()) == float(valid.max()) and counts["invalid"] == 0:
            reason = "constant"
        if reason:
            dropped[column] = reason
        reports.append(
            ColumnReport(
                column=column,
                nan=counts["nan"],
                infinite=counts["infinite"],
                negative=counts["negative"],
                above_bound=counts["above_bound"],
                imputed=counts["invalid"],
                zero_share=round(zero_share, 4),
                dropped=reason,
            )
        )
    levels: dict[str, tuple[str, ...]] = {}
    for column in rules.categorical_columns:
        named = frame.select(pl.col(column).str.strip_chars().alias("level")).filter(
            pl.col("level").is_not_null() & (pl.col("level") != "")
        )
        counted = (
            named.group_by("level")
            .len()
            .filter(pl.col("len") >= rules.min_level_count)
            .sort(["len", "level"], descending=[True, False])
            .head(rules.max_levels)
        )
        levels[column] = tuple(counted["level"].to_list())
        reports.append(
            ColumnReport(
                column=column,
                nan=rows - named.height,
                infinite=0,
                negative=0,
                above_bound=0,
                imputed=0,
                zero_share=0.0,
                dropped="",
            )
        )
    cleaning = Cleaning(
        numeric_features=tuple(c for c in rules.numeric_columns if c not in dropped),
        categorical_features=tuple(rules.categorical_columns),
        means=means,
        dropped=dropped,
        levels=levels,
        may_be_negative=tuple(rules.may_be_negative),
        upper_bounds=dict(rules.upper_bounds),
    )
    return cleaning, reports


def unusable_cells(frame: pl.DataFrame, cleaning: Cleaning) -> int:
    """Cells of the cleaned numeric features that are still NULL, NaN or infinite (should be 0)."""
    if not cleaning.numeric_features:
        return 0
    counts = frame.select(
        (pl.col(c).is_null() | pl.col(c).is_nan() | pl.col(c).is_infinite()).sum()
        for c in cleaning.numeric_features
    ).row(0)
    return int(sum(counts))


@dataclass(frozen=True)
class CleanedDataset:
    """The cleaned table, the fitted cleaning and what it did."""

    frame: pl.DataFrame
    cleaning: Cleaning
    columns: list[ColumnReport]
    rows_in: int
    duplicates_removed: int

    @property
    def report(self) -> pl.DataFrame:
        """One row per input feature column: what was invalid, imputed, dropped."""
        return pl.DataFrame([asdict(r) for r in self.columns])


def clean_dataset(
    frame: pl.DataFrame, rules: CleaningRules, keep: tuple[str, ...] = ("address",)
) -> CleanedDataset:
    """Remove duplicate addresses, fit the cleaning on what remains and apply it.

    `keep` columns (identifiers, labels, flags) pass through unchanged and are never features.
    """
    overlap = set(keep) & set(rules.numeric_columns + rules.categorical_columns)
    if overlap:
        raise ValueError(f"columns {sorted(overlap)} cannot be both kept aside and features")
    unique = frame.unique(subset=["address"], keep="first", maintain_order=True)
    cleaning, reports = fit_cleaning(unique, rules)
    return CleanedDataset(
        frame=cleaning.apply(unique, keep),
        cleaning=cleaning,
        columns=reports,
        rows_in=frame.height,
        duplicates_removed=frame.height - unique.height,
    )
