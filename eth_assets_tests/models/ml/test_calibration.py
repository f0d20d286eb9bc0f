"""Calibration candidates, cross-fitting, the bound, the interval and old pickles, on synthetic
scores whose right answer is known."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from eth_assets.models.ml.calibration import (
    METHODS,
    compare_calibrations,
    confidence_words,
    cross_fit,
    default_folds,
    expected_calibration_error,
    fit_curve,
    laplace_bound,
    markdown,
    max_f1_threshold,
    sigmoid,
)
from eth_assets.models.ml.classifier import Calibration, calibrate, fit_calibration

CUTOFFS = {"medium": 0.25, "critical": 0.9}


def _calibrated(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores that are already calibrated: each label drawn with the score's probability."""
    rng = np.random.default_rng(seed)
    raw = sigmoid(rng.normal(0.0, 2.0, rows))
    return (rng.random(rows) < raw).astype(int), raw


def _overconfident(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boosted-tree-like scores: twice as sure as the truth in log-odds, so many rows sit near 0
    or 1 with labels that (in a sample this size) all agree; isotonic regression puts them on
    plateaus at exactly 0 and 1."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(0.0, 8.0, rows)
    return (rng.random(rows) < sigmoid(logit / 2)).astype(int), sigmoid(logit)


def test_the_bound_and_the_logit_clip_never_reach_0_or_1() -> None:
    assert laplace_bound(np.array([0.0, 1.0]), 8).tolist() == [0.1, 0.9]
    assert sigmoid(np.array([-1000.0, 1000.0])).tolist() == pytest.approx([0, 1], abs=1e-14)
    assert sigmoid(np.array([-1000.0]))[0] > 0.0 and sigmoid(np.array([1000.0]))[0] < 1.0
    for method in METHODS:
        curve = fit_curve(method, np.array([0, 0, 1, 1]), np.array([0.0, 0.1, 0.9, 1.0]))
        predicted = curve.predict(np.array([0.0, 1e-300, 1.0 - 1e-16, 1.0]))
        assert (predicted >= 1 / 6).all() and (predicted <= 5 / 6).all(), method


def test_ece_and_the_f1_threshold_by_hand() -> None:
    # bin 0: predicted 0.05, observed 0.5 (half the rows); bin 9: 0.95 against 1.0
    ece = expected_calibration_error(np.array([0, 1, 1, 1]), np.array([0.05, 0.05, 0.95, 0.95]))
    assert ece == pytest.approx(0.45 * 0.5 + 0.05 * 0.5)
    # flag at ≥ 0.35: 3 flagged, 2 of them illicit, both illicit found: F1 = 4/5, the best
    labels, scores = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    assert max_f1_threshold(labels, scores) == 0.35


def test_calibrated_scores_give_platt_near_identity_and_a_small_cross_fitted_ece() -> None:
    labels, raw = _calibrated(4000)
    slope, intercept = fit_curve("platt", labels, raw).coefficients
    assert slope == pytest.approx(1.0, abs=0.1) and intercept == pytest.approx(0.0, abs=0.1)
    report = compare_calibrations(labels, raw, default_folds(labels, 10))
    chosen = report.row(report.method)
    assert chosen["ece"] < 0.02
    assert chosen["brier"] == pytest.approx(report.row("raw")["brier"], abs=0.002)


def test_plateaus_of_isotonic_give_way_to_distinct_scores_strictly_inside_0_and_1() -> None:
    labels, raw = _overconfident(2000)
    today = fit_curve("isotonic", labels, raw, bounded=False).predict(raw)
    assert ((today == 0.0) | (today == 1.0)).mean() > 0.2  # the problem being solved
    calibration, report = fit_calibration(labels, raw, CUTOFFS, default_folds(labels, 10))
    assert report.method != "isotonic"
    scores = calibration.calibrate(raw)
    assert ((scores > 0.0) & (scores < 1.0)).all()
    assert len(np.unique(scores)) > 0.95 * len(raw)
    assert report.row(report.method)["extreme_share"] == 0.0
    assert report.row(report.method)["distinct_values"] > 0.95 * len(raw)
    assert report.row(report.method)["brier"] < report.row("raw")["brier"]


def test_cross_fitting_never_lets_a_map_see_the_fold_it_predicts() -> None:
    """Fold 0 says the opposite of the other folds: a map that saw fold 0 would move towards
    it; cross-fitted, fold 0 gets what the other folds say, for every method."""
    rng = np.random.default_rng(3)
    raw = np.tile(np.linspace(0.02, 0.98, 50), 5)
    folds = np.repeat(np.arange(5), 50)
    labels = (rng.random(raw.size) < raw).astype(int)
    labels[folds == 0] = (raw[folds == 0] < 0.5).astype(int)  # reversed in fold 0
    for method in METHODS:
        predicted = cross_fit(method, labels, raw, folds)[folds == 0]
        outside = fit_curve(method, labels[folds != 0], raw[folds != 0]).predict(raw[:50])
        assert np.allclose(predicted, outside), method
        inside = fit_curve(method, labels, raw).predict(raw[:50])
        assert not np.allclose(predicted, inside), method
        assert np.corrcoef(predicted, raw[:50])[0, 1] > 0.8, method


def test_without_folds_a_stratified_five_fold_split_is_used() -> None:
    labels, raw = _calibrated(500)
    _, report = fit_calibration(labels, raw, CUTOFFS)
    assert report.folds == 5
    assert np.array_equal(default_folds(labels), default_folds(labels))
    assert default_folds(np.array([0, 0, 0, 1])).tolist() == [0, 0, 0, 0]  # one illicit row


def test_the_interval_holds_the_score_and_widens_with_fewer_rows() -> None:
    labels, raw = _calibrated(3000, seed=5)
    grid = np.linspace(0.01, 0.99, 99)
    widths = []
    for rows in (3000, 150):
        calibration = calibrate(labels[:rows], raw[:rows], CUTOFFS)
        low, high = calibration.interval(grid)
        point = calibration.calibrate(grid)
        assert (low <= point).all() and (point <= high).all()
        assert (np.diff(low) >= -1e-12).all() and (np.diff(high) >= -1e-12).all()
        widths.append(float(np.mean(high - low)))
    assert widths[1] > 2 * widths[0]
    assert widths[0] < 0.1


def test_scoring_with_the_interval_is_fast() -> None:
    labels, raw = _overconfident(3000)
    calibration = calibrate(labels, raw, CUTOFFS)
    many = np.random.default_rng(0).random(5000)
    started = time.perf_counter()
    calibration.calibrate(many), calibration.interval(many)
    assert time.perf_counter() - started < 0.1  # thousands of addresses per second, easily
    one = many[:1]
    timings = []
    for _ in range(50):
        started = time.perf_counter()
        calibration.calibrate(one), calibration.interval(one)
        timings.append(time.perf_counter() - started)
    assert float(np.median(timings)) < 0.001


def test_beta_calibration_stays_monotone_when_a_slope_comes_out_negative() -> None:
    raw = np.linspace(0.01, 0.99, 200)
    labels = (raw < 0.5).astype(int)  # scores reversed: no monotone map can follow them
    curve = fit_curve("beta", labels, raw)
    assert (curve.coefficients[:2] >= 0).all()
    assert (np.diff(curve.predict(raw)) >= 0).all()


def test_a_calibration_pickled_before_the_candidates_still_loads_and_scores_as_isotonic() -> None:
    labels = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    scores = np.linspace(0.1, 0.9, 8)
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, labels)
    old = object.__new__(Calibration)
    old.__dict__.update(
        isotonic=isotonic,
        threshold=0.5,
        bands=(("low", 0.0), ("medium", 0.25), ("high", 0.5), ("critical", 0.9)),
        brier_before=0.1,
        brier_after=0.05,
        threshold_rule="maximises F1 of the calibrated out-of-fold probabilities",
    )
    loaded = pickle.loads(pickle.dumps(old))
    assert "method" not in loaded.__dict__  # really the old shape
    assert loaded.method == "isotonic"
    calibrated = loaded.calibrate(scores)
    assert np.array_equal(calibrated, isotonic.predict(scores))
    low, high = loaded.interval(scores)
    assert np.array_equal(low, calibrated) and np.array_equal(high, calibrated)
    assert loaded.band(np.array([0.3, 0.95])).tolist() == ["medium", "critical"]


def test_confidence_in_words() -> None:
    assert confidence_words(0.97, 0.91, 0.99, 0.5) == (
        "confident: the whole interval (91 % to 99 %) is above the threshold 50 %"
    )
    assert confidence_words(0.0004, 0.0002, 0.003, 0.5) == (
        "confident: the whole interval (<0.1 % to 0.3 %) is below the threshold 50 %"
    )
    assert confidence_words(0.55, 0.4, 0.7, 0.5).startswith("uncertain: the interval (40 % to")
    assert confidence_words(0.5, 0.5, 0.5, 0.5).startswith("confident")  # flagged at ≥
    with pytest.raises(ValueError, match="outside its interval"):
        confidence_words(0.9, 0.1, 0.2, 0.5)


def test_the_report_names_its_metrics_and_draws_its_table() -> None:
    labels, raw = _overconfident(600)
    _, report = fit_calibration(labels, raw, CUTOFFS, default_folds(labels, 5))
    metrics = report.metrics()
    assert {
        "calibration_brier_raw", "calibration_brier_cross_fitted", "calibration_ece_raw",
        "calibration_ece_cross_fitted", "calibration_distinct_values",
        "calibration_extreme_share",
    } <= set(metrics)  # fmt: skip
    assert {f"calibration_{m}_brier" for m in METHODS} <= set(metrics)
    assert metrics["calibration_brier_cross_fitted"] == min(
        metrics[f"calibration_{m}_brier"] for m in METHODS
    )
    table = markdown(report)
    assert table.count("\n| ") == 1 + len(METHODS) + 1  # header, raw, one row per method
    assert f"| {report.method} |" in table and "| yes |" in table
