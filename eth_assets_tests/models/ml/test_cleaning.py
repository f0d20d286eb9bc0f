"""The cleaning of the feature table, on frames small enough to check by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from eth_assets.models.ml.cleaning import (
    NO_TOKEN,
    OTHER_TOKEN,
    CleaningRules,
    clean_dataset,
    cleaning_from_json,
    ether_supply,
    load_cleaning,
    unusable_cells,
)

RULES = CleaningRules(
    numeric_columns=("sent", "balance", "gap", "rare"),
    categorical_columns=("token",),
    may_be_negative=("gap",),
    upper_bounds={"balance": 100.0},
    max_zero_share=0.5,
)


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "address": ["0xa", "0xb", "0xc", "0xd", "0xa"],
            "label": [True, False, False, True, True],
            "sent": [1.0, float("nan"), 3.0, float("inf"), 1.0],
            "balance": [10.0, -5.0, 1e9, 20.0, 10.0],
            "gap": [-1.0, 2.0, None, 3.0, -1.0],
            "rare": [0.0, 0.0, 0.0, 7.0, 0.0],
            "token": ["DAI", "DAI", None, "SCAM", "DAI"],
        }
    )


def test_invalid_values_become_the_mean_of_the_valid_ones() -> None:
    data = clean_dataset(_frame(), RULES, keep=("address", "label"))
    frame = data.frame
    assert data.rows_in == 5 and data.duplicates_removed == 1
    assert frame["address"].to_list() == ["0xa", "0xb", "0xc", "0xd"]
    # sent: NaN and +inf replaced by mean(1, 3) = 2
    assert frame["sent"].to_list() == [1.0, 2.0, 3.0, 2.0]
    # balance: negative and above the bound replaced by mean(10, 20) = 15
    assert frame["balance"].to_list() == [10.0, 15.0, 15.0, 20.0]
    # gap may be negative; NULL → mean(-1, 2, 3) = 4/3
    assert frame["gap"].to_list()[:2] == [-1.0, 2.0]
    assert math.isclose(frame["gap"][2], 4 / 3)
    report = {r.column: r for r in data.columns}
    assert (report["sent"].nan, report["sent"].infinite, report["sent"].imputed) == (1, 1, 2)
    assert (report["balance"].negative, report["balance"].above_bound) == (1, 1)
    assert report["gap"].negative == 0 and report["gap"].imputed == 1


def test_mostly_zero_columns_are_dropped_and_said_why() -> None:
    data = clean_dataset(_frame(), RULES, keep=("address", "label"))
    assert "rare" not in data.frame.columns
    assert data.cleaning.dropped == {"rare": "75.0% zeros > 50%"}
    assert data.cleaning.features == ("sent", "balance", "gap", "token")


def test_identifiers_and_labels_never_become_features() -> None:
    data = clean_dataset(_frame(), RULES, keep=("address", "label"))
    assert not {"address", "label"} & set(data.cleaning.features)
    with pytest.raises(ValueError, match="both kept aside and features"):
        clean_dataset(_frame(), RULES, keep=("address", "sent"))


def test_token_names_are_categorical_levels() -> None:
    data = clean_dataset(_frame(), RULES, keep=("address",))
    # DAI is seen twice among unique addresses (kept); SCAM once (→ other); NULL → none
    assert data.cleaning.levels == {"token": ("DAI",)}
    assert data.frame["token"].to_list() == ["DAI", "DAI", NO_TOKEN, OTHER_TOKEN]


def test_the_saved_cleaning_applies_the_same_transform(tmp_path: Path) -> None:
    data = clean_dataset(_frame(), RULES, keep=("address",))
    path = data.cleaning.save(tmp_path / "cleaning.json")
    loaded = load_cleaning(path)
    assert loaded == data.cleaning == cleaning_from_json(data.cleaning.to_json())
    new = pl.DataFrame(
        {
            "address": ["0xe"],
            "sent": [None],
            "balance": [500.0],
            "gap": [-7.0],
            "rare": [1.0],
            "token": ["MKR"],
        }
    )
    applied = loaded.apply(new)
    assert applied.row(0) == ("0xe", 2.0, 15.0, -7.0, OTHER_TOKEN)


def test_missing_fitted_cleaning_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="materialize clean_features first"):
        load_cleaning(tmp_path / "absent.json")


def test_missing_feature_column_is_named() -> None:
    with pytest.raises(KeyError, match="rare"):
        clean_dataset(_frame().drop("rare"), RULES)


def test_ether_supply_bounds_balances() -> None:
    assert ether_supply(datetime(2015, 7, 30, tzinfo=UTC)) == pytest.approx(72_009_990.0)
    at_cutoff = ether_supply(datetime(2019, 4, 25, tzinfo=UTC))
    assert 105_000_000 < at_cutoff < 107_000_000
    assert ether_supply(datetime(2030, 1, 1, tzinfo=UTC)) == pytest.approx(120_500_000.0)


def test_cleaned_features_have_no_unusable_cell_left() -> None:
    data = clean_dataset(_frame(), RULES, keep=("address",))
    assert unusable_cells(data.frame, data.cleaning) == 0
    broken = data.frame.with_columns(sent=pl.Series([1.0, None, float("nan"), 2.0]))
    assert unusable_cells(broken, data.cleaning) == 2
