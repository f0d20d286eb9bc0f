"""The era-aware evaluation (eth_assets/models/ml/era.py) on hand-built cases: calendar strata,
matching
weights and effective sizes, era-matched metrics, the date-only baseline and the adversarial
check of each feature."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from eth_assets.models.ml.era import (
    NEVER_ACTIVE,
    date_only_out_of_fold,
    effective_size,
    era_by_feature,
    era_matched,
    era_predictability,
    evaluate_era,
    first_activity_days,
    markdown,
    matching_weights,
    quarter_of,
    year_of,
)


def day(text: str) -> float:
    """Days since the epoch of an ISO date (2016-01-01 is day 16801)."""
    return float(np.datetime64(text, "D").astype(int))


@pytest.fixture(autouse=True)
def _one_thread():
    """scikit-learn's gradient boosting on one OpenMP thread: on shared cores its spinning
    threads make these small fits a dozen times slower."""
    with threadpool_limits(1):
        yield


# calendar strata


def test_first_activity_days_are_fractional_days_since_the_epoch_and_nan_without_activity():
    seen = pl.Series("first_seen", [datetime(2016, 1, 1, 12), None, datetime(1970, 1, 2)])
    days = first_activity_days(seen)
    assert days[0] == 16801.5
    assert np.isnan(days[1])
    assert days[2] == 1.0


def test_quarter_of_counts_quarters_since_1970_and_never_active_for_nan():
    days = np.array(
        [
            day("2016-01-01"),  # (2016 − 1970)·4 + 0 = 184
            day("2016-03-31") + 0.99,  # still the first quarter
            day("2016-04-01"),  # 185
            day("2018-12-31"),  # 48·4 + 3 = 195
            day("1970-01-01"),  # 0
            np.nan,
        ]
    )
    assert quarter_of(days).tolist() == [184, 184, 185, 195, 0, NEVER_ACTIVE]


def test_year_of_gives_the_calendar_year_and_never_active_for_nan():
    days = np.array([day("2015-07-30"), day("2016-12-31") + 0.5, day("2017-01-01"), np.nan])
    assert year_of(days).tolist() == [2015, 2016, 2017, NEVER_ACTIVE]


# matching weights and effective sizes


def test_matching_weights_bring_each_class_down_to_the_smaller_count_per_stratum():
    strata = np.array(["A"] * 6 + ["B"] * 3 + ["C"] * 2)
    labels = np.array([0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1])  # A | B | C
    weights = matching_weights(strata, labels)
    # A: 4 normal / 2 illicit → normal 2/4, illicit 1; B: no illicit → 0; C: 1 / 1 → 1
    assert weights.tolist() == [0.5, 0.5, 0.5, 0.5, 1, 1, 0, 0, 0, 1, 1]
    # both classes weigh the same in total: 2 + 1 each
    assert weights[labels == 0].sum() == weights[labels == 1].sum() == 3


def test_effective_size_is_kish():
    assert effective_size(np.ones(7)) == 7
    assert effective_size(np.full(4, 0.25)) == 4  # equal weights of any size: n
    assert effective_size(np.array([1, 1, 0.5, 0.5])) == pytest.approx(9 / 2.5)  # 3.6
    assert effective_size(np.zeros(3)) == 0
    assert effective_size(np.array([])) == 0


# era-matched metrics


def test_classes_separated_by_date_are_not_measurable():
    labels = np.array([0] * 50 + [1] * 50)
    days = np.array([day("2016-02-01")] * 50 + [day("2018-02-01")] * 50)
    score = labels.astype(float)
    matched = era_matched(labels, score, score, quarter_of(days))
    assert not matched.measurable
    assert matched.effective_normal == matched.effective_illicit == 0
    assert matched.strata_with_both == 0
    assert np.isnan(matched.model["roc_auc"]) and np.isnan(matched.date_only["roc_auc"])
    assert matched.statement.startswith("not measurable")
    assert "overlap in 0 strata" in matched.statement
    assert "at least 30 of each" in matched.statement


def test_era_matched_weights_away_a_date_rule_but_keep_behaviour():
    # quarter 2016Q1: 40 normal / 20 illicit; 2016Q2: 20 normal / 40 illicit; 2016Q3: 10 normal
    quarters = ["2016-01-15"] * 60 + ["2016-04-15"] * 60 + ["2016-07-15"] * 10
    labels = np.array([0] * 40 + [1] * 20 + [0] * 20 + [1] * 40 + [0] * 10)
    strata = quarter_of(np.array([day(d) for d in quarters]))
    # a "date model" scoring the quarter only: unmatched it separates the classes well …
    by_quarter = {184: 0.2, 185: 0.8, 186: 0.1}
    date_score = np.array([by_quarter[q] for q in strata])
    assert roc_auc_score(labels, date_score) > 0.7
    # … a behaviour model that is always right stays right
    rng = np.random.default_rng(0)
    model_score = labels + rng.uniform(-0.4, 0.4, len(labels))

    matched = era_matched(labels, model_score, date_score, strata, min_effective=30)

    # weights: normal 0.5 (40) and 1 (20); illicit 1 (20) and 0.5 (40); the third quarter 0
    # Σw = 40 for each class, Σw² = 40·0.25 + 20 = 30 → effective 1600 / 30
    assert matched.effective_normal == pytest.approx(1600 / 30)
    assert matched.effective_illicit == pytest.approx(1600 / 30)
    assert matched.strata_with_both == 2
    assert matched.measurable
    # a score of the quarter alone, with both classes equally weighted in every quarter: 0.5
    assert matched.date_only["roc_auc"] == pytest.approx(0.5)
    assert matched.model == {"roc_auc": pytest.approx(1.0), "accuracy": pytest.approx(1.0)}
    assert matched.statement == (
        "era-matched on the first-activity quarter (2 strata hold both classes): ROC-AUC 1.000 "
        "(date only 0.500), effective 53 normal / 53 illicit"
    )


def test_era_matched_needs_min_effective_of_each_class():
    # one stratum, 60 normal (weight 1/3 each: effective 60) and 20 illicit (effective 20)
    labels = np.array([0] * 60 + [1] * 20)
    strata = np.zeros(80, dtype=int)
    score = labels.astype(float)
    matched = era_matched(labels, score, score, strata, min_effective=30)
    assert matched.effective_normal == pytest.approx(60)
    assert matched.effective_illicit == pytest.approx(20)
    assert not matched.measurable  # the smaller class counts
    assert era_matched(labels, score, score, strata, min_effective=20).measurable


# the date-only baseline


def _days_and_folds(rows: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    days = rng.uniform(day("2015-08-01"), day("2019-01-01"), rows)
    return days, np.arange(rows) % 5


def test_date_only_learns_a_cut_off_date():
    days, folds = _days_and_folds()
    labels = (days > day("2017-06-01")).astype(int)
    score = date_only_out_of_fold(days, labels, folds)
    assert not np.isnan(score).any()
    assert roc_auc_score(labels, score) > 0.99


def test_date_only_is_out_of_fold_so_shuffled_labels_give_chance():
    days, folds = _days_and_folds()
    labels = np.random.default_rng(1).permutation(np.arange(300) % 2)
    score = date_only_out_of_fold(days, labels, folds)
    assert abs(roc_auc_score(labels, score) - 0.5) < 0.1


def test_date_only_treats_never_active_as_a_value_of_its_own():
    days, folds = _days_and_folds()
    labels = (np.arange(300) % 3 == 0).astype(int)
    days[labels == 1] = np.nan  # every illicit account is "never active"
    score = date_only_out_of_fold(days, labels, folds)
    assert roc_auc_score(labels, score) > 0.99


# the adversarial check


def test_era_by_feature_names_a_feature_that_tracks_the_year_and_not_the_label():
    # 50 accounts of each (label, year): the label is independent of the year exactly
    labels = np.repeat([0, 0, 1, 1], 50)
    years = np.repeat([2016, 2017, 2016, 2017], 50)
    rng = np.random.default_rng(0)
    matrix = np.column_stack(
        [
            years.astype(float),  # the year itself
            labels.astype(float),  # the label itself
            rng.normal(0, 1, 200),  # noise
            2.0 * labels + (years - 2016),  # label and year, the label explaining it as well
        ]
    )
    table = era_by_feature(matrix, ["year", "label", "noise", "both"], labels, years)
    rows = {r["feature"]: r for r in table.iter_rows(named=True)}

    # the year: perfect within each class, the label AUC 0.5 (ties) → flagged
    assert rows["year"]["year_auc_within_class"] == 1.0
    assert rows["year"]["year_auc"] == 1.0
    assert rows["year"]["label_auc"] == 0.5
    assert rows["year"]["era_over_label"]
    # the label: constant within each class (0.5), label AUC 1 → not flagged
    assert rows["label"]["label_auc"] == 1.0
    assert rows["label"]["year_auc_within_class"] == 0.5
    assert rows["label"]["year_auc"] == 0.5
    assert not rows["label"]["era_over_label"]
    # noise: neither
    assert rows["noise"]["year_auc_within_class"] < 0.65
    assert not rows["noise"]["era_over_label"]
    # year within class 1.0, but label AUC 1.0 too: no margin of 0.1 → not flagged
    assert rows["both"]["year_auc_within_class"] == 1.0
    assert rows["both"]["label_auc"] == 1.0
    assert not rows["both"]["era_over_label"]

    assert table["feature"][0] in ("year", "both")  # sorted by the within-class year AUC
    assert table["feature"][-1] in ("label", "noise")


def test_era_predictability_against_the_commonest_year():
    # 60 of 2016, 40 of 2017, 3 of 2018 (fewer than the 5 folds: left out of the CV)
    years = np.array([2016] * 60 + [2017] * 40 + [2018] * 3)
    matrix = years.reshape(-1, 1).astype(float)
    result = era_predictability(matrix, years, seed=0, folds=5)
    assert result["year_accuracy"] == 1.0
    assert result["year_majority"] == pytest.approx(60 / 103)
    assert result["years"] == 3.0


def test_era_predictability_of_one_year_is_nan():
    years = np.full(20, 2017)
    result = era_predictability(np.ones((20, 1)), years)
    assert np.isnan(result["year_accuracy"])
    assert result["year_majority"] == 1.0
    assert result["years"] == 1.0


# end to end

METRIC_NAMES = {
    "date_only_roc_auc",
    "date_only_accuracy",
    "margin_over_date_roc_auc",
    "margin_over_date_accuracy",
    "era_matched_roc_auc",
    "era_matched_accuracy",
    "era_matched_date_only_roc_auc",
    "era_matched_measurable",
    "era_matched_effective_normal",
    "era_matched_effective_illicit",
    "era_year_accuracy",
    "era_year_majority",
    "era_features",
}


def _synthetic_era(rows: int = 400, seed: int = 0):
    """Both classes spread over 2016-01-03 … 2018-12-31 (one of each earlier), a model score
    that follows the label, a feature that is the first-activity year and one that follows the
    label."""
    rng = np.random.default_rng(seed)
    labels = np.arange(rows) % 2
    days = rng.uniform(day("2016-01-03"), day("2018-12-31"), rows)
    days[0], days[1] = day("2016-01-01"), day("2016-01-02")  # first normal, first illicit
    model = np.clip(0.5 * labels + 0.25 + rng.normal(0, 0.1, rows), 0, 1)
    matrix = np.column_stack(
        [year_of(days) + rng.normal(0, 0.01, rows), labels + rng.normal(0, 0.3, rows)]
    )
    return labels, model, days, np.arange(rows) % 5, matrix


def test_evaluate_era_end_to_end():
    labels, model, days, folds, matrix = _synthetic_era()
    report = evaluate_era(labels, model, days, folds, matrix, ["year_like", "behaviour"])

    assert set(report.metrics()) == METRIC_NAMES
    assert set(report.metrics("within_")) == {f"within_{n}" for n in METRIC_NAMES}
    metrics = report.metrics()
    assert report.model["roc_auc"] > 0.99
    assert abs(metrics["date_only_roc_auc"] - 0.5) < 0.1  # the date says nothing here
    assert metrics["margin_over_date_roc_auc"] > 0.35
    assert metrics["era_matched_measurable"] == 1.0
    assert metrics["era_matched_roc_auc"] > 0.99
    assert report.era_features == ["year_like"]
    assert metrics["era_features"] == 1.0
    assert metrics["era_year_accuracy"] > 0.95  # year_like gives the year away
    assert report.first_activity_range["normal"]["first"] == "2016-01-01"
    assert report.first_activity_range["illicit"]["first"] == "2016-01-02"

    text = markdown(report)
    assert "| first-activity date only | " in text
    assert f"| model (out of fold) | {report.model['roc_auc']:.4f} |" in text
    assert "| model, era-matched |" in text
    assert "Features that predict the era much better than the label: year_like." in text


def test_evaluate_era_separated_by_date_reports_no_matched_figure():
    labels, model, _, folds, matrix = _synthetic_era()
    days = np.where(labels == 0, day("2016-03-01"), day("2018-03-01"))
    report = evaluate_era(labels, model, days, folds, matrix[:, 1:], ["behaviour"])
    metrics = report.metrics()
    assert metrics["date_only_roc_auc"] == 1.0
    assert metrics["era_matched_measurable"] == 0.0
    assert np.isnan(metrics["era_matched_roc_auc"])
    text = markdown(report)
    assert "model, era-matched" not in text
    assert "Era-matched: not measurable" in text
    assert "normal 2016-03-01 … 2016-03-01, illicit 2018-03-01 … 2018-03-01" in text
