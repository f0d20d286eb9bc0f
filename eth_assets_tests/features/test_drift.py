"""Population stability index: zero for the same population, large for a shifted one."""

from __future__ import annotations

import numpy as np
import polars as pl

from eth_assets.features.drift import MAJOR_SHIFT, feature_drift, psi


def test_psi_is_zero_for_the_same_population_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    before = rng.lognormal(0, 1, 5000)
    assert psi(before, before) < 1e-9
    assert psi(before, rng.lognormal(0, 1, 5000)) < 0.02
    assert psi(before, rng.lognormal(1.0, 1, 5000)) > MAJOR_SHIFT


def test_mostly_zero_features_get_a_bin_for_the_zeros() -> None:
    before = np.r_[np.zeros(900), np.arange(1, 101)]
    after = np.r_[np.zeros(500), np.arange(1, 501)]
    assert psi(before, after) > MAJOR_SHIFT
    assert np.isnan(psi(np.array([]), after))


def test_feature_drift_compares_shared_numeric_columns_largest_first() -> None:
    previous = pl.DataFrame({"a": [1.0, 2, 3, 4] * 50, "b": [0, 0, 1, 1] * 50, "t": ["x"] * 200})
    current = pl.DataFrame({"a": [1.0, 2, 3, 4] * 50, "b": [5, 6, 7, 8] * 50, "t": ["y"] * 200})
    drift = feature_drift(previous, current)
    assert drift["feature"].to_list() == ["b", "a"]
    assert drift["psi"][0] > MAJOR_SHIFT and drift["psi"][1] < 1e-9
