"""Held-out evaluation (eth_assets/models/ml/held_out.py): size bands, the scorer table with its n/a
cells, and within-set CV plus an outside model on synthetic accounts whose label follows
behaviour, not date or size."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from threadpoolctl import threadpool_limits

from eth_assets.models.ml.classifier import ClassifierSettings
from eth_assets.models.ml.cleaning import CleaningRules
from eth_assets.models.ml.held_out import (
    evaluate_scores,
    held_out_evaluation,
    markdown,
    restricted_rules,
    size_bands,
)

RULES = CleaningRules(
    numeric_columns=("behaviour", "noise", "total_ether_received"),
    may_be_negative=("behaviour", "noise"),
)
QUICK = ClassifierSettings(
    grid={"depth": [2], "learning_rate": [0.3], "iterations": [30], "border_count": [32]},
    folds=3,
    threads=1,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """scikit-learn's gradient boosting on one OpenMP thread: on shared cores its spinning
    threads make these small fits a dozen times slower."""
    with threadpool_limits(1):
        yield


def day(text: str) -> float:
    """Days since the epoch of an ISO date."""
    return float(np.datetime64(text, "D").astype(int))


def test_size_bands_cut_at_the_pooled_quantiles():
    # 1 … 10: edges at the 20/40/60/80 % quantiles 2.8, 4.6, 6.4, 8.2 → two values per band
    values = np.arange(1.0, 11.0)
    assert size_bands(values, 5).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    # the order of the rows does not matter
    shuffled = np.array([10.0, 1.0, 5.0, 7.0, 2.0])
    assert size_bands(shuffled, 2).tolist() == [1, 0, 0, 1, 0]  # median 5: 5 goes below
    assert size_bands(values, 1).tolist() == [0] * 10
    # a heap of zeros fills the lowest band instead of leaving it empty
    heap = np.array([0.0] * 6 + [1.0, 2.0, 3.0, 4.0])
    assert size_bands(heap, 5).tolist() == [0] * 6 + [2, 2, 3, 3]  # edges 0, 0.4, 2.2
    with pytest.raises(ValueError, match="1 sizes are missing"):
        size_bands(np.array([1.0, np.nan, 3.0]), 2)


def test_restricted_rules_keep_only_the_numeric_features_asked_for():
    rules = CleaningRules(numeric_columns=("a", "b", "c"), categorical_columns=("token",))
    restricted = restricted_rules(rules, ("c", "a", "z"))
    assert restricted.numeric_columns == ("a", "c")
    assert restricted.categorical_columns == ()


def _two_bands():
    """Band 1 (sizes 1 … 60): 30 normal / 30 illicit, first active 2016Q1; band 2 (sizes
    101 … 160): 55 normal / 5 illicit, first active 2017Q1. Median 80.5 splits them."""
    labels = np.array([0] * 30 + [1] * 30 + [0] * 55 + [1] * 5)
    size = np.concatenate([np.arange(1.0, 61.0), np.arange(101.0, 161.0)])
    days = np.array([day("2016-02-01")] * 60 + [day("2017-02-01")] * 60)
    scores = {
        "model": labels.astype(float),  # always right: 1.0
        "date_only": np.full(120, 0.3),  # says nothing: 0.5
        "size_only": 1.0 - labels,  # always wrong: 0.0
    }
    return labels, scores, size, days


def test_evaluate_scores_per_subset_with_n_a_below_min_effective():
    labels, scores, size, days = _two_bands()
    table = evaluate_scores(labels, scores, size, days, bands=2, min_effective=20)
    rows = {r["subset"]: r for r in table.iter_rows(named=True)}
    assert list(rows) == [
        "all accounts",
        "size band 1 (total_ether_received 1 … 60)",
        "size band 2 (total_ether_received 101 … 160)",
        "era-matched (first-activity quarter)",
        "era- and size-matched (quarter × size band)",
    ]

    everyone = rows["all accounts"]
    assert (everyone["normal"], everyone["illicit"]) == (85, 35)
    assert everyone["measurable"]
    assert (everyone["model_roc_auc"], everyone["date_only_roc_auc"]) == (1.0, 0.5)
    assert everyone["size_only_roc_auc"] == 0.0

    first = rows["size band 1 (total_ether_received 1 … 60)"]
    assert (first["normal"], first["illicit"], first["measurable"]) == (30, 30, True)
    assert first["model_roc_auc"] == 1.0

    # 5 illicit accounts < 20: no figure at all
    second = rows["size band 2 (total_ether_received 101 … 160)"]
    assert (second["normal"], second["illicit"], second["measurable"]) == (55, 5, False)
    for scorer in ("model", "date_only", "size_only"):
        assert np.isnan(second[f"{scorer}_roc_auc"])

    # matched: 2016Q1 weights 1 / 1; 2017Q1 normal 5/55, illicit 1
    # effective normal (30 + 5)² / (30 + 55·(5/55)²), illicit 35
    matched = rows["era-matched (first-activity quarter)"]
    assert matched["normal"] == pytest.approx(35**2 / (30 + 55 * (5 / 55) ** 2))
    assert matched["illicit"] == pytest.approx(35)
    assert matched["measurable"]
    assert (matched["model_roc_auc"], matched["date_only_roc_auc"]) == (1.0, 0.5)
    # here the quarter and the size band coincide, so the two matchings agree
    both = rows["era- and size-matched (quarter × size band)"]
    assert both["normal"] == pytest.approx(matched["normal"])

    text = markdown(table).splitlines()
    assert text[2] == "| all accounts | 85 | 35 | 1.000 | 0.500 | 0.000 |"
    assert text[4] == "| size band 2 (total_ether_received 101 … 160) | 55 | 5 | n/a | n/a | n/a |"


def test_evaluate_scores_raising_min_effective_makes_every_row_n_a():
    labels, scores, size, days = _two_bands()
    table = evaluate_scores(labels, scores, size, days, bands=2, min_effective=100)
    assert not table["measurable"].any()
    assert table["model_roc_auc"].is_nan().all()
    assert all(line.endswith("| n/a | n/a | n/a |") for line in markdown(table).splitlines()[2:])


def _accounts(rows: int, seed: int, prefix: str) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """The label follows `behaviour` only; size, noise and first activity are independent."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(rows) % 2)
    frame = pl.DataFrame(
        {
            "address": [f"0x{prefix}{i:039x}" for i in range(rows)],
            "behaviour": 2.0 * labels + rng.normal(0, 1, rows),
            "noise": rng.normal(0, 1, rows),
            "total_ether_received": rng.lognormal(0, 1, rows),
        }
    )
    days = rng.uniform(day("2016-01-01"), day("2018-12-31"), rows)
    return frame, labels, days


def test_held_out_evaluation_model_beats_date_and_size_within_and_outside():
    frame, labels, days = _accounts(300, seed=0, prefix="a")
    train_frame, train_labels, train_days = _accounts(300, seed=1, prefix="b")
    unseen = np.arange(300) < 120

    result = held_out_evaluation(
        frame, labels, days, unseen, train_frame, train_labels, train_days, RULES, QUICK, bands=2
    )

    assert result.features == ("behaviour", "noise", "total_ether_received")
    assert result.within_counts == {"normal": 150, "illicit": 150}
    assert result.outside_counts == {
        "normal": int((labels[:120] == 0).sum()),
        "illicit": int((labels[:120] == 1).sum()),
        "trained_on_normal": 150,
        "trained_on_illicit": 150,
    }

    within = result.within.row(0, named=True)
    assert within["subset"] == "all accounts"
    assert (within["normal"], within["illicit"]) == (150, 150)
    # behaviour at 2 standard deviations: ROC-AUC Φ(2/√2) ≈ 0.92 at best
    assert within["model_roc_auc"] > 0.8
    assert within["model_roc_auc"] > within["date_only_roc_auc"] + 0.2
    assert within["model_roc_auc"] > within["size_only_roc_auc"] + 0.2
    assert abs(within["date_only_roc_auc"] - 0.5) < 0.1
    assert abs(within["size_only_roc_auc"] - 0.5) < 0.1

    outside = result.outside.row(0, named=True)
    assert outside["subset"] == "all accounts"
    assert outside["normal"] + outside["illicit"] == 120  # the unseen rows only
    assert outside["model_roc_auc"] > 0.8
    assert outside["model_roc_auc"] > outside["date_only_roc_auc"] + 0.2
    assert outside["model_roc_auc"] > outside["size_only_roc_auc"] + 0.2


def test_held_out_evaluation_baselines_learn_date_and_size_when_they_decide():
    """Label = first activity after 2017-06-01 in both sets, and illicit accounts received more:
    the date-only and size-only baselines, fitted on the other set or on the other folds, find
    it on the right rows."""
    frame, _, days = _accounts(300, seed=2, prefix="c")
    train_frame, _, train_days = _accounts(300, seed=3, prefix="d")
    cutoff = day("2017-06-01")
    labels, train_labels = (days > cutoff).astype(int), (train_days > cutoff).astype(int)
    frame = frame.with_columns(pl.col("total_ether_received") + 20.0 * pl.Series(labels))
    train_frame = train_frame.with_columns(
        pl.col("total_ether_received") + 20.0 * pl.Series(train_labels)
    )
    unseen = np.arange(300) % 2 == 0

    result = held_out_evaluation(
        frame, labels, days, unseen, train_frame, train_labels, train_days, RULES, QUICK, bands=2
    )
    for table in (result.within, result.outside):
        everyone = table.row(0, named=True)
        assert everyone["date_only_roc_auc"] > 0.97
        assert everyone["size_only_roc_auc"] > 0.97


def test_matching_on_activity_too_holds_the_number_of_transactions_equal():
    """Within one quarter and size band, illicit accounts are the busy ones: matching on the
    activity band as well leaves only the busy band, where both classes remain."""
    labels = np.array([0] * 40 + [1] * 40)
    activity = np.array([1.0] * 30 + [50.0] * 10 + [50.0] * 40)  # 30 quiet normal, all else busy
    scores = {"model": activity / 50.0, "date_only": np.full(80, 0.5), "size_only": np.zeros(80)}
    size, days = np.ones(80), np.full(80, 16801.5)  # one size band, one quarter
    table = evaluate_scores(labels, scores, size, days, bands=1, min_effective=5, activity=activity)
    rows = {r["subset"]: r for r in table.iter_rows(named=True)}
    era_size = rows["era- and size-matched (quarter × size band)"]
    matched = rows["era-, size- and activity-matched (quarter × size band × activity band)"]
    assert era_size["model_roc_auc"] > 0.8  # activity alone separates the classes
    # only the busy band holds both classes: 10 normal (weight 1), 40 illicit (weight 1/4)
    assert (matched["normal"], matched["illicit"]) == (10.0, 40.0)
    assert matched["model_roc_auc"] == 0.5  # equal activity: the model's edge is gone
