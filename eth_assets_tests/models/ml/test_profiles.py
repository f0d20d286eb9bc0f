"""Investor profiles: degenerate clusters refused, inactive accounts apart, names and reuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from eth_assets.models.ml.profiles import (
    NO_ACTIVITY_ID,
    NO_ACTIVITY_NAME,
    Candidate,
    build_profiles,
    choose,
    largest_identical_share,
    load_profile_model,
    name_profile,
    search_profiles,
)


def _candidate(k: int, score: float, eligible: bool = True) -> Candidate:
    return Candidate("app", "kmeans", k, score, score, 0.1, 0.0, eligible)


def test_choice_skips_ineligible_and_too_few_profiles() -> None:
    candidates = [_candidate(2, 0.9), _candidate(3, 0.5), _candidate(4, 0.8, eligible=False)]
    assert choose(candidates, min_k=3).k == 3
    with pytest.raises(ValueError, match="no clustering with k ≥ 5"):
        choose(candidates, min_k=5)


def test_a_single_outlier_cluster_is_not_eligible() -> None:
    rng = np.random.default_rng(0)
    values = np.vstack([rng.normal(0, 1, (200, 3)), rng.normal(5, 1, (200, 3)), [[1e6] * 3]])
    active = np.ones(len(values), bool)
    search = search_profiles(values, active, "t", ("a", "b", "c"), range(2, 5), 0.02, 0)
    for candidate in search.candidates:
        sizes = search.clusterings[(candidate.method, candidate.k)].sizes()
        assert candidate.eligible == (sizes.min() >= 0.02 * len(values))


def test_identical_rows_are_measured() -> None:
    assert largest_identical_share(np.array([[0, 0], [0, 0], [0, 0], [1, 2]])) == 0.75


def test_names_come_from_the_two_most_distinctive_features() -> None:
    assert (
        name_profile([("transactions", -1.2), ("balance_eth", 0.8)]) == "wealthy occasional users"
    )
    assert name_profile([("balance_eth", -1.0), ("transactions", -0.9)]) == "dormant small holders"


def _accounts(rows: int = 400, seed: int = 3) -> tuple[pl.DataFrame, np.ndarray]:
    """Three kinds of account plus some without activity."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, rows)
    active = rng.random(rows) > 0.1
    balance = np.where(kind == 0, rng.lognormal(5, 0.3, rows), rng.lognormal(-3, 0.3, rows))
    tokens = np.where(kind == 1, rng.integers(20, 40, rows), rng.integers(0, 2, rows))
    transfers = np.where(kind == 1, rng.integers(100, 200, rows), rng.integers(0, 3, rows))
    frame = pl.DataFrame(
        {
            "address": [f"0x{i:040x}" for i in range(rows)],
            "balance_eth": np.where(active, balance, 0.0),
            "unique_tokens_held": np.where(active, tokens, 0).astype(float),
            "unique_token_transfers": np.where(active, transfers, 0).astype(float),
        }
    )
    return frame, active


def test_profiles_keep_inactive_accounts_apart_and_assign_new_ones(tmp_path: Path) -> None:
    frame, active = _accounts()
    profiles = build_profiles(
        frame, active, ("app",), "app", range(2, 6), 0.02, 3, seed=0, as_of="2021-01-01"
    )
    ids = profiles.assignments["profile_id"].to_numpy()
    assert (ids == NO_ACTIVITY_ID).sum() == (~active).sum()
    assert set(profiles.assignments.filter(~pl.Series(active))["profile_name"]) == {
        NO_ACTIVITY_NAME
    }
    summary = profiles.summary
    assert summary["addresses"].sum() == len(frame)
    assert summary["profile_name"].n_unique() == summary.height
    assert profiles.chosen.k >= 3 and profiles.chosen.eligible
    path = profiles.model.save(tmp_path / "model.pkl")
    again = load_profile_model(path).assign(frame, active)
    assert again["profile_id"].to_list() == ids.tolist()


def test_unknown_feature_set_is_named() -> None:
    frame, active = _accounts()
    with pytest.raises(ValueError, match="'nope'"):
        build_profiles(frame, active, ("app",), "nope", range(2, 4), 0.02, 2, 0, "x")


def test_a_profile_is_described_in_words_and_units_that_agree_with_its_figures() -> None:
    from eth_assets.models.ml.profiles import describe_gap

    members, active = np.array([10.0, 12.0, 14.0]), np.array([0.1, 0.3, 0.5, 12.0])
    assert describe_gap("balance_eth", 1.2, members, active) == (
        "higher ether balance (median 12 ETH against 0.4 ETH for all active addresses)"
    )
    # A positive scaled gap but figures that are lower: the words follow the figures.
    text = describe_gap("contract_share", 2.5, np.array([0.0, 0.0, 0.1]), np.array([0.0, 0.5]))
    assert text.startswith("lower share of the ether it sends") and "sd" not in text
