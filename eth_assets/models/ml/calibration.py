"""Calibration of the classifier's out-of-fold probabilities, chosen and measured honestly.

Four candidate maps from raw to calibrated probability: isotonic regression, Platt (a logistic
model of the raw logit), beta calibration (a logistic model of [ln p, −ln(1−p)], Kull et al.
2017) and a smoothed isotonic map (isotonic blocks, their Laplace shares interpolated linearly
between block centres, so no plateaus). Each is judged on **cross-fitted** predictions: per CV
fold, the map is fitted on the other folds' out-of-fold probabilities and predicts that fold, so
no row is scored by a map that saw its label. Every map's output is bounded to [1/(n+2),
(n+1)/(n+2)] for n calibration rows (monotone, no new ties): n rows cannot support a certainty
closer to 0 or 1 than a rule of succession gives. A bootstrap of the chosen map over the rows
gives a 5th–95th percentile interval per score, stored as two curves on a fixed grid of raw
logits so that scoring stays a pair of interpolations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

METHODS = ("isotonic", "platt", "beta", "smooth_isotonic")
DESCRIPTIONS = {
    "isotonic": "isotonic regression of the raw probability",
    "platt": "Platt: logistic regression of the raw logit",
    "beta": "beta calibration: logistic regression of [ln p, -ln(1-p)] (Kull et al. 2017)",
    "smooth_isotonic": "smoothed isotonic: Laplace shares of the isotonic blocks, interpolated "
    "linearly between block centres on the raw logit",
}
ECE_BINS = 10  # equal-width bins of the calibrated probability
# σ(±34) lies 1.7e-15 from 0 or 1: representable in float64, so no logit clipped to this range
# rounds to an exact 0 or 1
LOGIT_CLIP = 34.0
RESAMPLES = 200
PERCENTILES = (5.0, 95.0)
# raw logits at which the bootstrap curves are stored; interpolation between them is exact for
# the logistic maps up to 1e-4 and follows the knots of the piecewise ones
INTERVAL_GRID = np.linspace(-LOGIT_CLIP, LOGIT_CLIP, 1361)
DEFAULT_FOLDS = 5


def raw_logit(raw: np.ndarray) -> np.ndarray:
    """The logit of raw probabilities, clipped to ±LOGIT_CLIP (0 and 1 included)."""
    p = np.asarray(raw, dtype=float)
    with np.errstate(divide="ignore"):
        z = np.log(p) - np.log1p(-p)
    return np.clip(z, -LOGIT_CLIP, LOGIT_CLIP)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function of logits clipped to ±LOGIT_CLIP: never exactly 0 or 1."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -LOGIT_CLIP, LOGIT_CLIP)))


def laplace_bound(probability: np.ndarray, rows: int) -> np.ndarray:
    """`probability` shrunk linearly into [1/(n+2), (n+1)/(n+2)] for n = `rows`: monotone, no
    new ties, and what n rows can support at most (the rule of succession for 0 or n of n)."""
    return (rows * np.asarray(probability, dtype=float) + 1.0) / (rows + 2.0)


@dataclass(frozen=True)
class CalibrationCurve:
    """One fitted map from raw to calibrated probability.

    Logistic maps (`platt`, `beta`) keep their coefficients (slopes, then intercept); piecewise
    maps keep knots interpolated linearly: `isotonic` over the raw probability (as scikit-learn
    predicts it), `smooth_isotonic` over the raw logit. With `bounded`, the result is shrunk by
    `laplace_bound` for `rows` calibration rows."""

    method: str
    coefficients: np.ndarray
    knots_x: np.ndarray
    knots_y: np.ndarray
    rows: int
    bounded: bool = True

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability of each raw probability."""
        raw = np.asarray(raw, dtype=float)
        if self.method == "isotonic":
            unbounded = np.clip(np.interp(raw, self.knots_x, self.knots_y), 0.0, 1.0)
        elif self.method == "smooth_isotonic":
            unbounded = np.interp(raw_logit(raw), self.knots_x, self.knots_y)
        else:
            unbounded = sigmoid(_design(self.method, raw) @ self.coefficients)
        return laplace_bound(unbounded, self.rows) if self.bounded else unbounded


def _design(method: str, raw: np.ndarray) -> np.ndarray:
    """The logistic map's inputs and a constant column: the raw logit (Platt), or ln p and
    −ln(1−p) (beta), both from the clipped logit so that 0 and 1 stay finite."""
    z = raw_logit(raw)
    if method == "platt":
        columns = [z]
    elif method == "beta":
        # ln p = −ln(1 + e^−z), −ln(1−p) = ln(1 + e^z)
        columns = [-np.logaddexp(0.0, -z), np.logaddexp(0.0, z)]
    else:
        raise ValueError(f"unknown calibration method {method!r}: use one of {METHODS}")
    return np.column_stack([*columns, np.ones(len(z))])


def _logistic(design: np.ndarray, labels: np.ndarray, ridge: float = 1e-4) -> np.ndarray:
    """Coefficients of a logistic regression by Newton's method with step halving; a tiny ridge
    on the slopes (not the intercept) keeps separable data finite."""
    penalty = np.full(design.shape[1], ridge)
    penalty[-1] = 0.0
    weights = np.zeros(design.shape[1])

    def loss(w: np.ndarray) -> float:
        z = design @ w
        return float(np.sum(np.logaddexp(0.0, z) - labels * z) + 0.5 * np.sum(penalty * w * w))

    current = loss(weights)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ weights)))
        gradient = design.T @ (p - labels) + penalty * weights
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-6:
            candidate = weights - scale * step
            value = loss(candidate)
            if value <= current:
                break
            scale /= 2
        else:
            break
        weights, previous, current = candidate, current, value
        if np.max(np.abs(scale * step)) < 1e-10 or previous - current < 1e-12:
            break
    return weights


def _constant(labels: np.ndarray, method: str, rows: int, bounded: bool) -> CalibrationCurve:
    """A flat logistic map at the Laplace share of illicit rows: all one class can support."""
    share = (labels.sum() + 1.0) / (len(labels) + 2.0)
    coefficients = np.zeros(2 if method == "platt" else 3)
    coefficients[-1] = np.log(share) - np.log1p(-share)
    return CalibrationCurve(method, coefficients, *_no_knots(), rows, bounded)


def _no_knots() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0), np.zeros(0)


def _isotonic_knots(labels: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's isotonic regression of the labels on the raw probability, as knots."""
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, labels)
    return np.asarray(isotonic.X_thresholds_, float), np.asarray(isotonic.y_thresholds_, float)


def _smooth_isotonic_knots(labels: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots (raw logit, probability): the isotonic blocks at their mean raw logit, each with its
    Laplace share (k+1)/(m+2) (pooled again where that reverses small neighbours), and the ends
    of the logit range at 0 and 1, so the map rises strictly everywhere."""
    x = raw_logit(raw)
    order = np.argsort(x, kind="stable")
    x, y = x[order], labels[order].astype(float)
    fitted = IsotonicRegression().fit_transform(x, y)
    starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
    sizes = np.diff(np.r_[starts, len(x)]).astype(float)
    centres = np.add.reduceat(x, starts) / sizes
    shares = (np.add.reduceat(y, starts) + 1.0) / (sizes + 2.0)
    shares = IsotonicRegression().fit_transform(centres, shares, sample_weight=sizes + 2.0)
    merged = np.flatnonzero(np.r_[True, np.diff(shares) != 0])
    weights = np.add.reduceat(sizes, merged)
    centres = np.add.reduceat(centres * sizes, merged) / weights
    shares = shares[merged]
    knots_x, knots_y = [centres], [shares]
    if centres[0] > -LOGIT_CLIP:
        knots_x.insert(0, np.array([-LOGIT_CLIP]))
        knots_y.insert(0, np.array([0.0]))
    if centres[-1] < LOGIT_CLIP:
        knots_x.append(np.array([LOGIT_CLIP]))
        knots_y.append(np.array([1.0]))
    return np.concatenate(knots_x), np.concatenate(knots_y)


def fit_curve(
    method: str, labels: np.ndarray, raw: np.ndarray, bounded: bool = True
) -> CalibrationCurve:
    """Fit one calibration map of `labels` (0/1) on raw probabilities `raw`."""
    labels = np.asarray(labels, dtype=float)
    raw = np.asarray(raw, dtype=float)
    rows = len(labels)
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}: use one of {METHODS}")
    if rows == 0:
        raise ValueError("no rows to calibrate on: pass the out-of-fold probabilities")
    if method in ("platt", "beta"):
        if labels.min() == labels.max():
            return _constant(labels, method, rows, bounded)
        design = _design(method, raw)
        coefficients = _logistic(design, labels)
        if method == "beta" and (coefficients[:2] < 0).any():
            # monotone beta calibration: refit without the input whose slope came out negative
            keep = [i for i in (0, 1) if coefficients[i] >= 0]
            refit = _logistic(design[:, [*keep, 2]], labels) if keep else None
            coefficients = np.zeros(3)
            if refit is not None and refit[0] >= 0:
                coefficients[keep[0]], coefficients[2] = refit
            else:
                return _constant(labels, method, rows, bounded)
        return CalibrationCurve(method, coefficients, *_no_knots(), rows, bounded)
    fit_knots = _isotonic_knots if method == "isotonic" else _smooth_isotonic_knots
    knots = fit_knots(labels, raw)
    return CalibrationCurve(method, np.zeros(0), *knots, rows, bounded)


def default_folds(labels: np.ndarray, folds: int = DEFAULT_FOLDS, seed: int = 0) -> np.ndarray:
    """A stratified split of the calibration rows for callers without the CV's folds (fewer
    folds when a class has fewer rows; one fold, i.e. no cross-fitting, below two)."""
    labels = np.asarray(labels).astype(int)
    smallest = int(np.bincount(labels, minlength=2).min())
    folds = min(folds, smallest)
    if folds < 2:
        return np.zeros(len(labels), dtype=int)
    return stratified_folds(labels, folds, seed)


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number of every row: stratified, shuffled with a fixed seed."""
    assignment = np.empty(len(labels), dtype=int)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for number, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        assignment[test] = number
    return assignment


def cross_fit(
    method: str,
    labels: np.ndarray,
    raw: np.ndarray,
    fold_of_row: np.ndarray,
    bounded: bool = True,
) -> np.ndarray:
    """Per fold, the map fitted on the other folds' rows predicts that fold's rows; with a
    single fold there is nothing to hold out and the map is fitted on all rows."""
    labels, raw = np.asarray(labels), np.asarray(raw, dtype=float)
    predicted = np.full(len(raw), np.nan)
    folds = np.unique(fold_of_row)
    if len(folds) < 2:
        return fit_curve(method, labels, raw, bounded).predict(raw)
    for fold in folds:
        held_out = fold_of_row == fold
        curve = fit_curve(method, labels[~held_out], raw[~held_out], bounded)
        predicted[held_out] = curve.predict(raw[held_out])
    return predicted


def brier(labels: np.ndarray, probability: np.ndarray) -> float:
    """Mean squared difference between probability and label."""
    return float(np.mean((np.asarray(probability, float) - np.asarray(labels, float)) ** 2))


def expected_calibration_error(
    labels: np.ndarray, probability: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE over `bins` equal-width bins of the probability (the last one closed): the row-share
    weighted mean of |mean probability − share illicit| per bin."""
    probability = np.asarray(probability, dtype=float)
    labels = np.asarray(labels, dtype=float)
    index = np.clip((probability * bins).astype(int), 0, bins - 1)
    predicted = np.bincount(index, weights=probability, minlength=bins)
    observed = np.bincount(index, weights=labels, minlength=bins)
    return float(np.sum(np.abs(predicted - observed)) / len(probability))


def extreme_share(probability: np.ndarray) -> float:
    """Share of values exactly 0.0 or exactly 1.0."""
    probability = np.asarray(probability, dtype=float)
    return float(np.mean((probability == 0.0) | (probability == 1.0)))


def score_summary(labels: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Brier, ECE, distinct values and the share at exactly 0 or 1 of one set of scores."""
    return {
        "brier": brier(labels, probability),
        "ece": expected_calibration_error(labels, probability),
        "distinct_values": float(len(np.unique(probability))),
        "extreme_share": extreme_share(probability),
    }


@dataclass(frozen=True)
class IntervalBand:
    """The 5th and 95th percentile of the bootstrapped calibration maps at each raw logit of
    `grid`: a score's interval is two interpolations."""

    grid: np.ndarray
    low: np.ndarray
    high: np.ndarray
    resamples: int
    seed: int

    def bounds(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The percentile interval of each raw probability (not yet widened to its point)."""
        z = raw_logit(raw)
        return np.interp(z, self.grid, self.low), np.interp(z, self.grid, self.high)


def bootstrap_band(
    method: str,
    labels: np.ndarray,
    raw: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    grid: np.ndarray = INTERVAL_GRID,
) -> IntervalBand:
    """Refit `method` on `resamples` bootstrap resamples of the rows (fixed seed) and keep the
    pointwise 5th and 95th percentile of the maps over `grid` (raw logits). Pointwise
    percentiles of monotone maps are monotone."""
    labels, raw = np.asarray(labels), np.asarray(raw, dtype=float)
    rng = np.random.default_rng(seed)
    at = sigmoid(grid)
    curves = np.empty((resamples, len(grid)))
    for number in range(resamples):
        rows = rng.integers(0, len(labels), len(labels))
        curves[number] = fit_curve(method, labels[rows], raw[rows]).predict(at)
    low, high = np.percentile(curves, PERCENTILES, axis=0)
    return IntervalBand(np.asarray(grid, float), low, high, resamples, seed)


@dataclass(frozen=True)
class CalibrationReport:
    """What the candidates measured: per method (and the raw out-of-fold scores) cross-fitted
    Brier, ECE (`ECE_BINS` equal-width bins), distinct values and share at exactly 0 or 1; the
    chosen method and its cross-fitted probabilities (what the reliability plot shows)."""

    table: pl.DataFrame  # method, brier, ece, distinct_values, extreme_share, chosen
    method: str
    cross_fitted: np.ndarray
    folds: int
    ece_bins: int = ECE_BINS

    def row(self, method: str) -> dict[str, object]:
        """The table's row of `method` (or "raw")."""
        return self.table.filter(pl.col("method") == method).row(0, named=True)

    def metrics(self) -> dict[str, float]:
        """MLflow metrics with stable names."""
        raw, chosen = self.row("raw"), self.row(self.method)
        metrics = {
            "calibration_brier_raw": raw["brier"],
            "calibration_brier_cross_fitted": chosen["brier"],
            "calibration_ece_raw": raw["ece"],
            "calibration_ece_cross_fitted": chosen["ece"],
            "calibration_distinct_values": chosen["distinct_values"],
            "calibration_extreme_share": chosen["extreme_share"],
            "calibration_folds": float(self.folds),
        }
        for row in self.table.filter(pl.col("method") != "raw").iter_rows(named=True):
            metrics[f"calibration_{row['method']}_brier"] = row["brier"]
            metrics[f"calibration_{row['method']}_ece"] = row["ece"]
        return metrics


def compare_calibrations(
    labels: np.ndarray,
    raw: np.ndarray,
    fold_of_row: np.ndarray,
    methods: tuple[str, ...] = METHODS,
) -> CalibrationReport:
    """Cross-fit every method on the given folds and choose the lowest cross-fitted Brier score
    (the first of `methods` on a tie)."""
    labels, raw = np.asarray(labels), np.asarray(raw, dtype=float)
    predictions = {m: cross_fit(m, labels, raw, fold_of_row) for m in methods}
    scores = {m: score_summary(labels, p) for m, p in predictions.items()}
    chosen = min(methods, key=lambda m: (scores[m]["brier"], methods.index(m)))
    rows = [{"method": "raw", **score_summary(labels, raw), "chosen": False}]
    rows += [{"method": m, **scores[m], "chosen": m == chosen} for m in methods]
    return CalibrationReport(
        table=pl.DataFrame(rows),
        method=chosen,
        cross_fitted=predictions[chosen],
        folds=len(np.unique(fold_of_row)),
    )


def max_f1_threshold(labels: np.ndarray, probability: np.ndarray) -> float:
    """The value of `probability` that, as the threshold (flag at ≥), maximises F1; the lowest
    such value on a tie."""
    labels = np.asarray(labels).astype(int)
    values, inverse = np.unique(np.asarray(probability, dtype=float), return_inverse=True)
    positives = np.bincount(inverse, weights=labels, minlength=len(values))
    counts = np.bincount(inverse, minlength=len(values))
    # flagged at threshold values[i]: every row with a value ≥ values[i]
    true_positive = np.cumsum(positives[::-1])[::-1]
    flagged = np.cumsum(counts[::-1])[::-1]
    f1 = 2 * true_positive / (flagged + labels.sum())
    return float(values[int(np.argmax(f1))])


def _percent(value: float) -> str:
    """A probability as a percentage a person reads at a glance (never "0 %" or "100 %")."""
    if value < 0.001:
        return "<0.1 %"
    if value > 0.999:
        return ">99.9 %"
    if value < 0.01 or value > 0.99:
        return f"{value * 100:.1f} %"
    return f"{value * 100:.0f} %"


def confidence_words(probability: float, low: float, high: float, threshold: float) -> str:
    """The score's interval against the threshold in plain words: confident when the whole
    interval lies on one side of it (flagged at ≥ threshold), uncertain when it spans it."""
    if not low <= probability <= high:
        raise ValueError(
            f"probability {probability} lies outside its interval [{low}, {high}]: pass the "
            "probability, probability_low and probability_high of the same row"
        )
    interval = f"{_percent(low)} to {_percent(high)}"
    if low >= threshold:
        return f"confident: the whole interval ({interval}) is above the threshold " + (
            _percent(threshold)
        )
    if high < threshold:
        return f"confident: the whole interval ({interval}) is below the threshold " + (
            _percent(threshold)
        )
    return f"uncertain: the interval ({interval}) spans the threshold {_percent(threshold)}"


def markdown(report: CalibrationReport) -> str:
    """The candidates as a Markdown table: cross-fitted figures, the raw scores first."""
    lines = [
        f"Cross-fitted on {report.folds} folds; ECE over {report.ece_bins} equal-width bins.",
        "",
        "| method | Brier | ECE | distinct values | share at exactly 0 or 1 | chosen |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in report.table.iter_rows(named=True):
        name = "raw (out-of-fold)" if row["method"] == "raw" else row["method"]
        lines.append(
            f"| {name} | {row['brier']:.5f} | {row['ece']:.4f} | {row['distinct_values']:,.0f} "
            f"| {row['extreme_share']:.2%} | {'yes' if row['chosen'] else ''} |"
        )
    return "\n".join(lines)
