"""The classifier's guards against leaks, its calibration and bands, on synthetic accounts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.isotonic import IsotonicRegression

from eth_assets.models.dataset_rules import training_rows
from eth_assets.models.ml.classifier import (
    Calibration,
    ClassifierSettings,
    calibrate,
    check_training_rows,
    cross_validate,
    load_illicit_model,
    stratified_folds,
    train_final_model,
    train_illicit_classifier,
)
from eth_assets.models.ml.cleaning import CleaningRules
from eth_assets.models.ml.comparison import compare_models

RULES = CleaningRules(
    numeric_columns=("signal", "noise", "amount"),
    categorical_columns=("token",),
    may_be_negative=("signal", "noise"),
    max_zero_share=0.99,
)
QUICK = ClassifierSettings(
    grid={"depth": [3], "learning_rate": [0.2], "iterations": [60], "border_count": [32]},
    folds=5,
)


def _accounts(rows: int = 600, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    """A feature that separates the classes well, one that does not, and a token name."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    frame = pl.DataFrame(
        {
            "address": [f"0x{i:040x}" for i in range(rows)],
            "signal": labels * 2.0 + rng.normal(0, 1, rows),
            "noise": rng.normal(0, 1, rows),
            "amount": rng.lognormal(0, 2, rows),
            "token": rng.choice(["DAI", "USDC", None], rows),
        }
    )
    return frame, labels


def test_real_signal_is_learned() -> None:
    frame, labels = _accounts()
    summary = cross_validate(frame, labels, RULES, QUICK).summary()
    assert summary["roc_auc"] > 0.85


def test_shuffled_labels_give_chance_auc() -> None:
    frame, labels = _accounts(rows=1200)
    shuffled = np.random.default_rng(1).permutation(labels)
    summary = cross_validate(frame, shuffled, RULES, QUICK).summary()
    assert summary["roc_auc"] == pytest.approx(0.5, abs=0.05)


def test_row_order_and_identifiers_are_not_features() -> None:
    """A row number or an address column in the frame never reaches the model; results do not
    depend on the input order, since training rows are sorted by address first."""
    frame, labels = _accounts()
    folds = stratified_folds(labels, 5, 0)
    first = cross_validate(frame.with_row_index("row_number"), labels, RULES, QUICK, folds)
    assert set(first.importance["feature"]) == {"signal", "noise", "amount", "token"}
    order = np.random.default_rng(2).permutation(frame.height)
    training = pl.DataFrame(
        {"address": frame["address"], "label": labels, "fold": folds, "in_training": True}
    )
    flagged = frame.with_columns(is_labelled_illicit=False, has_activity=True)
    rows, sorted_labels, sorted_folds = training_rows(flagged[order], training[order])
    assert rows.equals(frame)  # frame was built in address order
    assert np.array_equal(sorted_labels, labels) and np.array_equal(sorted_folds, folds)
    again = cross_validate(rows, sorted_labels, RULES, QUICK, sorted_folds)
    assert np.allclose(
        again.out_of_fold, cross_validate(frame, labels, RULES, QUICK, folds).out_of_fold
    )


def test_duplicate_addresses_are_refused_before_splitting() -> None:
    frame, labels = _accounts(rows=50)
    doubled = pl.concat([frame, frame.head(1)])
    with pytest.raises(ValueError, match="duplicate addresses"):
        check_training_rows(doubled, np.append(labels, labels[0]), 5)


def test_too_few_of_a_class_is_named() -> None:
    frame, _ = _accounts(rows=30)
    labels = np.zeros(30, dtype=int)
    labels[:3] = 1
    with pytest.raises(ValueError, match="3 illicit"):
        check_training_rows(frame, labels, 5)


def test_calibration_threshold_and_bands_by_hand() -> None:
    labels = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    scores = np.linspace(0.05, 0.95, 10)
    calibration = calibrate(labels, scores, {"medium": 0.25, "critical": 0.9})
    calibrated = calibration.calibrate(scores)
    assert np.all(np.diff(calibrated) >= 0)  # every candidate map is monotone
    assert ((calibrated > 0) & (calibrated < 1)).all()
    # ten rows are too few to calibrate: the honest (cross-fitted) Brier score says so
    assert calibration.brier_before == pytest.approx(0.1025)
    assert calibration.brier_after > calibration.brier_before
    assert [name for name, _ in calibration.bands] == ["low", "medium", "high", "critical"]
    assert calibration.band(np.array([0.0, 0.3, 0.95])).tolist() == ["low", "medium", "critical"]
    assert calibration.band(np.array([calibration.threshold]))[0] == "high"


def test_a_training_run_gives_a_model_that_scores_and_explains() -> None:
    frame, labels = _accounts()
    folds = stratified_folds(labels, 5, 0)
    run = train_illicit_classifier(
        frame, labels, folds, RULES, QUICK, {"medium": 0.25, "critical": 0.9}, "2021-01-01",
        "test", paper_folds=(3,),
    )  # fmt: skip
    assert run.class_counts == {"normal": int((labels == 0).sum()), "illicit": int(labels.sum())}
    assert run.paper_table["folds"].to_list() == [3]
    scored = run.model.score(frame.head(5))
    assert scored.columns == [
        "raw_probability", "probability", "probability_low", "probability_high", "is_flagged",
        "band",
    ]  # fmt: skip
    assert (scored["probability_low"] <= scored["probability"]).all()
    assert (scored["probability"] <= scored["probability_high"]).all()
    assert run.model.shap_values(frame.head(5)).shape == (5, 4)
    assert run.calibration_report.method == run.calibration.method
    assert run.calibration_report.folds == 5


def test_a_model_saved_with_the_isotonic_only_calibration_still_scores(tmp_path: Path) -> None:
    """A model pickled before the calibration candidates (its Calibration holds the old fields
    only) loads and scores: isotonic as before, an interval of (p, p)."""
    frame, labels = _accounts()
    folds = stratified_folds(labels, 5, 0)
    cv = cross_validate(frame, labels, RULES, QUICK, folds)
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    isotonic.fit(cv.out_of_fold, labels)
    old = object.__new__(Calibration)
    old.__dict__.update(
        isotonic=isotonic, threshold=0.5, bands=(("low", 0.0), ("high", 0.5)), brier_before=0.1,
        brier_after=0.1, threshold_rule="maximises F1 of the calibrated out-of-fold probabilities",
    )  # fmt: skip
    model, _ = train_final_model(frame, labels, RULES, QUICK, old, "2021-01-01", "test", 0.9)
    loaded = load_illicit_model(model.save(tmp_path / "model.pkl"))
    scored = loaded.score(frame.head(20))
    expected = isotonic.predict(scored["raw_probability"].to_numpy())
    assert np.array_equal(scored["probability"].to_numpy(), expected)
    assert scored["probability_low"].equals(scored["probability"], check_names=False)
    assert scored["probability_high"].equals(scored["probability"], check_names=False)


def test_comparison_runs_every_model_on_the_same_folds() -> None:
    frame, labels = _accounts(rows=300)
    folds = stratified_folds(labels, 3, 0)
    params = {"depth": 3, "learning_rate": 0.2, "iterations": 30, "border_count": 32}
    result = compare_models(
        frame, labels, folds, RULES, params, profiles=np.array(["a", "b", "c"] * 100)
    )
    assert result.table.height == 9
    assert result.folds.group_by("model").len()["len"].to_list() == [3] * 9
    assert result.table["roc_auc"].min() > 0.8


def test_bands_never_fall_in_severity_as_the_score_rises() -> None:
    from eth_assets.models.ml.classifier import risk_bands

    cutoffs = {"medium": 0.25, "critical": 0.9}
    assert risk_bands(0.5, cutoffs) == (
        ("low", 0.0),
        ("medium", 0.25),
        ("high", 0.5),
        ("critical", 0.9),
    )
    # A threshold below "medium": medium would sit above "high", so it is left out.
    assert risk_bands(0.209, cutoffs) == (("low", 0.0), ("high", 0.209), ("critical", 0.9))
    assert risk_bands(0.95, cutoffs) == (("low", 0.0), ("medium", 0.25), ("high", 0.95))
    with pytest.raises(ValueError, match="band cut-offs"):
        risk_bands(0.5, {"severe": 0.7})
