"""Reasons in words, percentiles and published snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from eth_assets.models.ml.explain import Reason, explain_rows, percentile, percentiles
from eth_assets.models.ml.units import readable
from eth_assets.scores.snapshot import POINTER, publish_snapshot, read_current


def test_percentiles_count_half_of_the_ties() -> None:
    population = np.array([1.0, 2.0, 2.0, 3.0])
    assert percentile(population, 2.0) == 50.0
    assert percentile(population, 10.0) == 100.0
    assert percentiles(population, np.array([0.0, 2.0, 3.0])).tolist() == [0.0, 50.0, 87.5]


def test_values_equal_to_rounding_are_ties() -> None:
    """A value computed by another exact-to-rounding path (one ulp off) keeps its percentile;
    a real difference does not."""
    cv = 0.43
    population = np.array([0.1, cv, 0.9])
    nudged = np.nextafter(cv, 1.0)
    assert percentile(population, nudged) == percentile(population, cv) == 50.0
    assert percentiles(population, np.array([nudged, np.nextafter(cv, 0.0)])).tolist() == [
        50.0,
        50.0,
    ]
    assert percentile(population, cv * (1 + 1e-6)) == 200 / 3


def test_reasons_name_the_largest_pushes_on_each_side() -> None:
    shap = np.array([[0.5, -1.0, 0.2], [-0.1, -0.2, -0.3]])
    values = {
        "unique_received_from_addresses": np.array([312.0, 1.0]),
        "sent_tnx": np.array([0.0, 5.0]),
        "erc20_most_rec_token_type": np.array(["DAI", "(none)"], dtype=object),
    }
    points = shap * 0.1
    reasons = explain_rows(shap, list(values), values, np.array([True, False]), 2, points)
    assert [(r.feature, r.direction) for r in reasons[0]] == [
        ("unique_received_from_addresses", "raises"),
        ("erc20_most_rec_token_type", "raises"),
        ("sent_tnx", "lowers"),
    ]
    assert [r.feature for r in reasons[1]] == ["erc20_most_rec_token_type", "sent_tnx"]
    assert all(r.direction == "lowers" for r in reasons[1])
    # 312 is above the other row's 1 (75th percentile with half the tie); the known illicit
    # row is the address itself, the others the second row.
    assert reasons[0][0].sentence() == (
        "raises the risk by 5.0 points — distinct addresses received from: 312, higher than "
        "75 % of scored addresses (known illicit: median 312, others: median 1)"
    )
    assert reasons[0][1].sentence() == "raises the risk by 2.0 points — token received most: DAI"
    assert reasons[0][2].sentence().startswith("lowers the risk by 10.0 points — transactions")


def test_low_values_are_said_as_lower_in_their_unit() -> None:
    reason = Reason("avg_val_received", 0.04, 0.3, 9.0, 35.0, points=0.021)
    assert reason.sentence() == (
        "raises the risk by 2.1 points — average ether amount received: 0.04 ETH, lower than "
        "91 % of scored addresses (35th percentile of known illicit ones)"
    )
    record = reason.as_dict()
    assert record["direction"] == "raises" and record["unit"] == "ETH"
    assert record["value"] == 0.04 and record["shown"] == "0.04 ETH"


def test_values_read_in_their_units() -> None:
    assert readable("time_diff_between_first_and_last_mins", 4 * 1440) == "4.0 days"
    assert readable("avg_min_between_sent_tnx", 30) == "30 min"
    assert readable("contract_call_share", 0.254) == "25 %"
    assert readable("total_ether_received", 51.07811342592593) == "51.08 ETH"
    assert readable("sent_tnx", 1234.0) == "1,234"
    assert readable("active_days", 800.0) == "2.2 years"


def test_snapshots_are_immutable_and_the_pointer_moves(tmp_path: Path) -> None:
    first = pl.DataFrame({"address": ["0xa"], "probability": [0.1]})
    second = pl.DataFrame({"address": ["0xa", "0xb"], "probability": [0.2, 0.9]})
    publish_snapshot(first, tmp_path, "one", {"model": "v1"})
    publish_snapshot(second, tmp_path, "two", {"model": "v2"}, keep=1)
    frame, manifest = read_current(tmp_path)
    assert frame.equals(second) and manifest["model"] == "v2" and manifest["rows"] == 2
    assert json.loads((tmp_path / POINTER).read_text())["file"] == "two.parquet"
    assert (tmp_path / "one.parquet").exists()  # kept for a reader that read the old pointer
    with pytest.raises(FileExistsError):
        publish_snapshot(first, tmp_path, "two", {})
    publish_snapshot(first, tmp_path, "three", {}, keep=1)
    assert not (tmp_path / "one.parquet").exists()
    assert sorted(p.name for p in tmp_path.glob("*.parquet")) == ["three.parquet", "two.parquet"]


def test_nothing_published_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="materialize address_scores first"):
        read_current(tmp_path)
