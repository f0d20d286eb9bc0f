"""The illicit-account classifier: CatBoost with a grid chosen on inner validation only,
stratified k-fold cross-validation with the cleaning refitted on every training fold,
calibration on out-of-fold predictions (eth_assets.models.ml.calibration), a stated threshold, an
interval per score and risk bands.

Nothing here sees a test fold before it is scored: per outer fold, the cleaning is fitted on the
training rows, each grid point is trained on part of them and compared on the rest (the inner
validation rows), the best is refitted on all training rows, and only then is the test fold
predicted.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from catboost import CatBoostClassifier, Pool
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split

from eth_assets.common.files import load_pickle, save_pickle
from eth_assets.models.ml.calibration import (
    RESAMPLES,
    CalibrationCurve,
    CalibrationReport,
    IntervalBand,
    bootstrap_band,
    compare_calibrations,
    default_folds,
    fit_curve,
    max_f1_threshold,
    stratified_folds,
)
from eth_assets.models.ml.cleaning import Cleaning, CleaningRules, fit_cleaning

METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall")

# Grids over CatBoost's depth, learning rate, iterations and border count. `small` keeps the
# default graph and CI fast; `paper` is the wider grid of the CatBoost paper's search.
GRIDS: dict[str, dict[str, list]] = {
    "small": {
        "depth": [4, 6],
        "learning_rate": [0.15],
        "iterations": [200],
        "border_count": [128],
    },
    "paper": {
        "depth": [4, 6, 8, 10],
        "learning_rate": [0.03, 0.1, 0.3],
        "iterations": [500, 1000],
        "border_count": [32, 128, 254],
    },
}


def grid_points(grid: dict[str, list]) -> list[dict[str, object]]:
    """Every combination of the grid's values, in a fixed order."""
    names = sorted(grid)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(grid[n] for n in names))
    ]


@dataclass(frozen=True)
class ClassifierSettings:
    """How to train: grid, folds, seed, threads, validation share."""

    grid: dict[str, list] = field(default_factory=lambda: GRIDS["small"])
    folds: int = 10
    seed: int = 0
    threads: int = 2
    validation_share: float = 0.2


def _model(params: dict[str, object], settings: ClassifierSettings) -> CatBoostClassifier:
    return CatBoostClassifier(
        **params,
        random_seed=settings.seed,
        thread_count=settings.threads,
        allow_writing_files=False,
        verbose=False,
        eval_metric="Logloss",
    )


def _pool(frame: pl.DataFrame, cleaning: Cleaning, labels: np.ndarray | None = None) -> Pool:
    """A CatBoost pool of the cleaned features, token names as categorical features."""
    cleaned = cleaning.apply(frame, keep=())
    data = cleaned.to_pandas()
    return Pool(data, label=labels, cat_features=list(cleaning.categorical_features))


@dataclass(frozen=True)
class FittedClassifier:
    """A cleaning and the CatBoost model trained on what it produced."""

    cleaning: Cleaning
    model: CatBoostClassifier
    params: dict[str, object]

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        return self.model.predict_proba(_pool(frame, self.cleaning))[:, 1]


def choose_params(
    frame: pl.DataFrame, labels: np.ndarray, rules: CleaningRules, settings: ClassifierSettings
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """The grid point with the best ROC-AUC on an inner validation split of `frame` (the
    cleaning fitted on the inner training part); every point's score."""
    points = grid_points(settings.grid)
    if len(points) == 1:
        return points[0], [{**points[0], "validation_auc": float("nan")}]
    inner_train, inner_valid = train_test_split(
        np.arange(frame.height),
        test_size=settings.validation_share,
        stratify=labels,
        random_state=settings.seed,
    )
    cleaning, _ = fit_cleaning(frame[inner_train], rules)
    train_pool = _pool(frame[inner_train], cleaning, labels[inner_train])
    valid_pool = _pool(frame[inner_valid], cleaning)
    scores = []
    for params in points:
        model = _model(params, settings).fit(train_pool)
        auc = roc_auc_score(labels[inner_valid], model.predict_proba(valid_pool)[:, 1])
        scores.append({**params, "validation_auc": float(auc)})
    best = max(range(len(points)), key=lambda i: (scores[i]["validation_auc"], -i))
    return points[best], scores


def fit_classifier(
    frame: pl.DataFrame,
    labels: np.ndarray,
    rules: CleaningRules,
    params: dict[str, object],
    settings: ClassifierSettings,
    eval_frame: pl.DataFrame | None = None,
    eval_labels: np.ndarray | None = None,
) -> FittedClassifier:
    """Fit the cleaning and CatBoost on `frame`; with an eval set, CatBoost records its logloss
    per iteration on it (never used to stop or choose)."""
    cleaning, _ = fit_cleaning(frame, rules)
    model = _model(params, settings)
    eval_set = None
    if eval_frame is not None:
        eval_set = _pool(eval_frame, cleaning, eval_labels)
    model.fit(_pool(frame, cleaning, labels), eval_set=eval_set, use_best_model=False)
    return FittedClassifier(cleaning, model, params)


def fold_metrics(labels: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy, ROC-AUC, F1, precision and recall of `probability` at `threshold`."""
    predicted = (probability >= threshold).astype(int)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "roc_auc": float(roc_auc_score(labels, probability)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
    }


@dataclass(frozen=True)
class CrossValidation:
    """Per-fold metrics and chosen parameters, out-of-fold probabilities, logloss curves."""

    folds: pl.DataFrame  # fold, rows, illicit, metrics…, seconds, chosen params
    out_of_fold: np.ndarray  # probability of every row, predicted by the model that never saw it
    fold_of_row: np.ndarray
    train_logloss: np.ndarray  # mean over folds, per iteration (iterations of fold 0's choice)
    test_logloss: np.ndarray
    importance: pl.DataFrame  # feature, mean importance over folds
    seconds: float

    def summary(self) -> dict[str, float]:
        """Mean and sample standard deviation of every metric over the folds."""
        result: dict[str, float] = {}
        for metric in METRICS:
            values = self.folds[metric].to_numpy()
            result[metric] = float(values.mean())
            result[f"{metric}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        return result


def cross_validate(
    frame: pl.DataFrame,
    labels: np.ndarray,
    rules: CleaningRules,
    settings: ClassifierSettings,
    fold_of_row: np.ndarray | None = None,
) -> CrossValidation:
    """Stratified k-fold CV; per fold: cleaning and grid choice on the training rows only."""
    check_training_rows(frame, labels, settings.folds)
    started = time.perf_counter()
    if fold_of_row is None:
        fold_of_row = stratified_folds(labels, settings.folds, settings.seed)
    out_of_fold = np.full(len(labels), np.nan)
    rows, train_curves, test_curves, importances = [], [], [], []
    for fold in range(int(fold_of_row.max()) + 1):
        fold_started = time.perf_counter()
        train = np.flatnonzero(fold_of_row != fold)
        test = np.flatnonzero(fold_of_row == fold)
        params, _ = choose_params(frame[train], labels[train], rules, settings)
        fitted = fit_classifier(
            frame[train], labels[train], rules, params, settings, frame[test], labels[test]
        )
        out_of_fold[test] = fitted.predict_proba(frame[test])
        curves = fitted.model.get_evals_result()
        train_curves.append(np.asarray(curves["learn"]["Logloss"]))
        test_curves.append(np.asarray(curves["validation"]["Logloss"]))
        importances.append(
            dict(zip(fitted.cleaning.features, fitted.model.get_feature_importance(), strict=True))
        )
        rows.append(
            {
                "fold": fold,
                "rows": len(test),
                "illicit": int(labels[test].sum()),
                **fold_metrics(labels[test], out_of_fold[test], 0.5),
                "seconds": time.perf_counter() - fold_started,
                **{f"param_{k}": v for k, v in params.items()},
            }
        )
    shortest = min(len(c) for c in train_curves)
    features = sorted({f for imp in importances for f in imp})
    importance = pl.DataFrame(
        {
            "feature": features,
            "importance": [
                float(np.mean([imp.get(f, 0.0) for imp in importances])) for f in features
            ],
        }
    ).sort("importance", descending=True)
    return CrossValidation(
        folds=pl.DataFrame(rows),
        out_of_fold=out_of_fold,
        fold_of_row=fold_of_row,
        train_logloss=np.mean([c[:shortest] for c in train_curves], axis=0),
        test_logloss=np.mean([c[:shortest] for c in test_curves], axis=0),
        importance=importance,
        seconds=time.perf_counter() - started,
    )


def check_training_rows(frame: pl.DataFrame, labels: np.ndarray, folds: int) -> None:
    """Clear errors for what would make cross-validation meaningless."""
    if frame.height != len(labels):
        raise ValueError(f"{frame.height} feature rows but {len(labels)} labels")
    if "address" in frame.columns and frame["address"].n_unique() != frame.height:
        raise ValueError("duplicate addresses in the training rows: remove them before splitting")
    counts = np.bincount(labels.astype(int), minlength=2)
    if counts.min() < folds:
        raise ValueError(
            f"{folds}-fold cross-validation needs at least {folds} accounts of each class; "
            f"the training set has {counts[0]} normal and {counts[1]} illicit"
        )


@dataclass(frozen=True)
class Calibration:
    """The calibration map chosen on cross-fitted out-of-fold probabilities, its bootstrap
    interval, a threshold and risk bands.

    `brier_before` is the raw out-of-fold Brier score, `brier_after` the chosen map's cross-fitted
    one (each row scored by a map that never saw its label). The fields after `threshold_rule`
    came later: a model pickled before them has only `isotonic` and scores as it did, with an
    interval of (p, p)."""

    isotonic: IsotonicRegression | None
    threshold: float
    bands: tuple[tuple[str, float], ...]  # (name, lower bound of calibrated probability), ascending
    brier_before: float
    brier_after: float
    threshold_rule: str
    method: str = "isotonic"
    curve: CalibrationCurve | None = None
    interval_band: IntervalBand | None = None
    ece_before: float = float("nan")
    ece_after: float = float("nan")
    rows: int = 0  # calibration rows: the bound is [1/(rows+2), (rows+1)/(rows+2)]

    def calibrate(self, probability: np.ndarray) -> np.ndarray:
        """Calibrated probability of each raw probability."""
        if self.curve is None:
            return np.clip(self.isotonic.predict(probability), 0.0, 1.0)
        return self.curve.predict(probability)

    def interval(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """5th and 95th percentile of the bootstrapped map at each raw probability, widened to
        hold the calibrated probability itself; (p, p) for a model saved without them."""
        calibrated = self.calibrate(raw)
        if self.interval_band is None:
            return calibrated, calibrated.copy()
        low, high = self.interval_band.bounds(raw)
        return np.minimum(low, calibrated), np.maximum(high, calibrated)

    def band(self, calibrated: np.ndarray) -> np.ndarray:
        """The band of each calibrated probability: the last band whose lower bound it reaches."""
        names = np.array([name for name, _ in self.bands], dtype=object)
        bounds = np.array([lower for _, lower in self.bands])
        return names[np.searchsorted(bounds, calibrated, side="right") - 1]


# Bands from least to most severe: those before "high" lie below the flagging threshold, those
# after it above.
SEVERITY = ("low", "medium", "high", "critical")


def risk_bands(threshold: float, cutoffs: dict[str, float]) -> tuple[tuple[str, float], ...]:
    """(name, lower bound) ascending: "low" from 0, each of `cutoffs` from its bound, "high" from
    the threshold. A band whose bound falls on the wrong side of the threshold (a "medium"
    above it, a "critical" below it) is left out, so severity never falls as the score rises
    and every flagged address is "high" or worse."""
    unknown = set(cutoffs) - set(SEVERITY) - {"high", "low"}
    if unknown or "high" in cutoffs or "low" in cutoffs:
        raise ValueError(f"band cut-offs must be among {SEVERITY[1::2]}; got {sorted(cutoffs)}")
    rank = SEVERITY.index("high")
    bands = [("low", 0.0), ("high", threshold)]
    for name, bound in cutoffs.items():
        below = SEVERITY.index(name) < rank
        if (below and 0.0 < bound < threshold) or (not below and bound > threshold):
            bands.append((name, float(bound)))
    return tuple(sorted(bands, key=lambda band: band[1]))


def fit_calibration(
    labels: np.ndarray,
    out_of_fold: np.ndarray,
    band_cutoffs: dict[str, float],
    fold_of_row: np.ndarray | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[Calibration, CalibrationReport]:
    """Every candidate map cross-fitted on `fold_of_row` (the CV's folds; without them a
    stratified 5-fold split of the rows, seed `seed`), the lowest cross-fitted Brier score chosen
    and refitted on all rows, its bootstrap interval (`resamples` resamples, seed `seed`).

    The threshold maximises F1 of the chosen map's *cross-fitted* probabilities: the values the
    map gives rows it never saw, as it will give new addresses, rather than the in-sample values
    it was fitted to. Bands: see `risk_bands`."""
    labels = np.asarray(labels).astype(int)
    out_of_fold = np.asarray(out_of_fold, dtype=float)
    if fold_of_row is None:
        fold_of_row = default_folds(labels, seed=seed)
    report = compare_calibrations(labels, out_of_fold, fold_of_row)
    threshold = max_f1_threshold(labels, report.cross_fitted)
    raw, chosen = report.row("raw"), report.row(report.method)
    calibration = Calibration(
        isotonic=None,
        threshold=threshold,
        bands=risk_bands(threshold, band_cutoffs),
        brier_before=raw["brier"],
        brier_after=chosen["brier"],
        threshold_rule="maximises F1 of the cross-fitted calibrated out-of-fold probabilities",
        method=report.method,
        curve=fit_curve(report.method, labels, out_of_fold),
        interval_band=bootstrap_band(report.method, labels, out_of_fold, resamples, seed),
        ece_before=raw["ece"],
        ece_after=chosen["ece"],
        rows=len(labels),
    )
    return calibration, report


def calibrate(
    labels: np.ndarray,
    out_of_fold: np.ndarray,
    band_cutoffs: dict[str, float],
    fold_of_row: np.ndarray | None = None,
) -> Calibration:
    """The calibration of `fit_calibration`, without its report."""
    return fit_calibration(labels, out_of_fold, band_cutoffs, fold_of_row)[0]


@dataclass(frozen=True)
class IllicitModel:
    """Everything needed to score a new address: the cleaning (columns, means, levels), the
    CatBoost model, the calibration, threshold and bands, and where the training data came from."""

    cleaning: Cleaning
    model: CatBoostClassifier
    params: dict[str, object]
    calibration: Calibration
    as_of: str
    chain_source: str
    trained_rows: int
    cv_roc_auc: float
    # what the training store held: "full chain" or "chosen histories"
    # (eth_assets.features.feature_tables
    # store_kind); "" for a model saved before it was recorded
    store_kind: str = ""

    @property
    def features(self) -> tuple[str, ...]:
        return self.cleaning.features

    def pool(self, frame: pl.DataFrame) -> Pool:
        return _pool(frame, self.cleaning)

    def score(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Per row: raw and calibrated probability with its 5th–95th percentile interval,
        decision at the threshold, risk band."""
        raw = self.model.predict_proba(self.pool(frame))[:, 1]
        calibrated = self.calibration.calibrate(raw)
        low, high = self.calibration.interval(raw)
        return pl.DataFrame(
            {
                "raw_probability": raw,
                "probability": calibrated,
                "probability_low": low,
                "probability_high": high,
                "is_flagged": calibrated >= self.calibration.threshold,
                "band": self.calibration.band(calibrated).astype(str),
            }
        )

    def shap_values(self, frame: pl.DataFrame) -> np.ndarray:
        """SHAP values (log-odds) per row and feature, in `features` order (CatBoost's own
        TreeSHAP; the last column it returns, the expected value, is dropped)."""
        values = self.model.get_feature_importance(self.pool(frame), type="ShapValues")
        return values[:, :-1]

    def save(self, path: Path) -> Path:
        """Pickle the model to `path` atomically."""
        return save_pickle(self, path)


def load_illicit_model(path: Path) -> IllicitModel:
    """A model written by `IllicitModel.save`."""
    return load_pickle(path, IllicitModel, "illicit_classifier")


def train_final_model(
    frame: pl.DataFrame,
    labels: np.ndarray,
    rules: CleaningRules,
    settings: ClassifierSettings,
    calibration: Calibration,
    as_of: str,
    chain_source: str,
    cv_roc_auc: float,
    store_kind: str = "",
) -> tuple[IllicitModel, list[dict[str, object]]]:
    """The grid point chosen on an inner validation split of all training rows, refitted on all
    of them; the calibration comes from the cross-validation's out-of-fold predictions."""
    params, scores = choose_params(frame, labels, rules, settings)
    fitted = fit_classifier(frame, labels, rules, params, settings)
    model = IllicitModel(
        cleaning=fitted.cleaning,
        model=fitted.model,
        params=params,
        calibration=calibration,
        as_of=as_of,
        chain_source=chain_source,
        trained_rows=frame.height,
        cv_roc_auc=cv_roc_auc,
        store_kind=store_kind,
    )
    return model, scores


@dataclass(frozen=True)
class ClassifierRun:
    """Everything one training run measured and produced."""

    cv: CrossValidation
    calibration: Calibration
    calibration_report: CalibrationReport  # every candidate map, cross-fitted
    model: IllicitModel
    final_grid: list[dict[str, object]]  # every grid point's inner-validation AUC
    paper_table: pl.DataFrame  # folds k, accuracy, roc_auc, f1, precision, recall (± sd)
    class_counts: dict[str, int]


def _summary_row(name: str, value: object, cv: CrossValidation) -> dict[str, object]:
    return {name: value, **cv.summary(), "seconds": cv.seconds}


def train_illicit_classifier(
    frame: pl.DataFrame,
    labels: np.ndarray,
    fold_of_row: np.ndarray,
    rules: CleaningRules,
    settings: ClassifierSettings,
    band_cutoffs: dict[str, float],
    as_of: str,
    chain_source: str,
    paper_folds: tuple[int, ...] = (3, 4, 5, 10),
    store_kind: str = "",
) -> ClassifierRun:
    """Cross-validate on the given folds (grid chosen inside each), calibrate on the out-of-fold
    predictions (candidate maps cross-fitted on the same folds), fit the final model; then the
    paper's table over k folds: the headline CV for its own k, and a CV with the final model's
    parameters fixed for every other k. (The variant with the investor profile as a feature is a
    row of the model comparison.)"""
    cv = cross_validate(frame, labels, rules, settings, fold_of_row)
    calibration, calibration_report = fit_calibration(
        labels, cv.out_of_fold, band_cutoffs, fold_of_row
    )
    summary = cv.summary()
    model, final_grid = train_final_model(
        frame,
        labels,
        rules,
        settings,
        calibration,
        as_of,
        chain_source,
        summary["roc_auc"],
        store_kind,
    )
    fixed = ClassifierSettings(
        grid={k: [v] for k, v in model.params.items()},
        folds=settings.folds,
        seed=settings.seed,
        threads=settings.threads,
    )
    paper_rows = []
    for k in paper_folds:
        if k == int(fold_of_row.max()) + 1:  # the headline CV itself (grid chosen per fold)
            paper_rows.append(_summary_row("folds", k, cv))
            continue
        per_k = ClassifierSettings(**{**fixed.__dict__, "folds": k})
        paper_rows.append(_summary_row("folds", k, cross_validate(frame, labels, rules, per_k)))
    return ClassifierRun(
        cv=cv,
        calibration=calibration,
        calibration_report=calibration_report,
        model=model,
        final_grid=final_grid,
        paper_table=pl.DataFrame(paper_rows),
        class_counts={"normal": int((labels == 0).sum()), "illicit": int((labels == 1).sum())},
    )
