"""Era-aware evaluation: does a classifier tell behaviour, or only when an account was active?

On the labelled data the classes separate by date (every normal account of the real sample
started before mid-2017, almost every illicit one after), so every figure is reported beside:
- a **date-only baseline**: a model of the first-activity date alone, on the same folds;
- an **era-matched** figure: the out-of-fold predictions reweighted so both classes have the
  same first-activity distribution (per calendar quarter, each class weighted down to the
  smaller class's count in that quarter; quarters holding one class only drop out), with the
  effective sample size of each class; below `min_effective` the data cannot give one;
- an **adversarial check**: how well the features predict the first-activity year, all together
  and one by one; a feature that predicts the year much better than the label is named.

Plain functions (no Dagster, no MLflow); the first-activity date is never a model feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

SECONDS_PER_DAY = 86_400.0
# Fewer effective accounts of a class than this after matching: the data cannot give the figure.
MIN_EFFECTIVE = 30.0
# A feature predicts the era "much better" than the label when its year AUC within each class
# (where the label cannot explain it) reaches ERA_FLOOR and exceeds its label AUC by ERA_MARGIN
# (AUCs taken as max(AUC, 1 − AUC), so direction does not matter).
ERA_MARGIN = 0.1
ERA_FLOOR = 0.65


def first_activity_days(first_seen: pl.Series) -> np.ndarray:
    """First-activity times as fractional days since the Unix epoch (NaN without activity)."""
    seconds = first_seen.dt.epoch("s").cast(pl.Float64).to_numpy()
    return seconds / SECONDS_PER_DAY


class _OneThread(HistGradientBoostingClassifier):
    """Gradient boosting fitted and applied on one OpenMP thread: on one feature, more threads
    only contend (a 300-row fit took 12 s instead of 0.8 s on a busy 2-core machine)."""

    def fit(self, *args, **kwargs):
        with threadpool_limits(limits=1):
            return super().fit(*args, **kwargs)

    def predict_proba(self, *args, **kwargs):
        with threadpool_limits(limits=1):
            return super().predict_proba(*args, **kwargs)

    def predict(self, *args, **kwargs):
        with threadpool_limits(limits=1):
            return super().predict(*args, **kwargs)


def _date_model(seed: int) -> HistGradientBoostingClassifier:
    return _OneThread(max_iter=100, max_leaf_nodes=8, random_state=seed)


def date_only_out_of_fold(
    days: np.ndarray, labels: np.ndarray, fold_of_row: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Out-of-fold probabilities of a model of the first-activity date alone, on the given folds
    (fitted on each training part, so it may learn any shape: a cut-off date, a window…)."""
    out = np.full(len(labels), np.nan)
    matrix = days.reshape(-1, 1)
    for fold in np.unique(fold_of_row):
        train, test = fold_of_row != fold, fold_of_row == fold
        model = _date_model(seed).fit(matrix[train], labels[train])
        out[test] = model.predict_proba(matrix[test])[:, 1]
    return out


def fit_date_model(days: np.ndarray, labels: np.ndarray, seed: int = 0):
    """The date-only model fitted on every row: what a rule of the date learns from this data,
    to score another set (the out-of-time evaluation)."""
    return _date_model(seed).fit(days.reshape(-1, 1), labels)


# The stratum / year of an account without any activity: a value of its own.
NEVER_ACTIVE = -1


def quarter_of(days: np.ndarray) -> np.ndarray:
    """Calendar quarter index (year·4 + quarter since 1970) of each time in days since the
    epoch; NEVER_ACTIVE where there is none."""
    finite = np.isfinite(days)
    stamps = (np.where(finite, days, 0.0) * SECONDS_PER_DAY).astype("datetime64[s]")
    months = stamps.astype("datetime64[M]").astype(int)  # months since 1970-01
    return np.where(finite, months // 3, NEVER_ACTIVE)


def year_of(days: np.ndarray) -> np.ndarray:
    """Calendar year of each time in days since the epoch; NEVER_ACTIVE where there is none."""
    finite = np.isfinite(days)
    stamps = (np.where(finite, days, 0.0) * SECONDS_PER_DAY).astype("datetime64[s]")
    return np.where(finite, stamps.astype("datetime64[Y]").astype(int) + 1970, NEVER_ACTIVE)


def matching_weights(strata: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Weights that give both classes the same distribution over `strata`: in each stratum each
    class is weighted to the smaller class's count there (so the smaller one keeps weight 1);
    strata holding one class only get weight 0."""
    weights = np.zeros(len(labels))
    for stratum in np.unique(strata):
        inside = strata == stratum
        counts = [int(((labels == c) & inside).sum()) for c in (0, 1)]
        target = min(counts)
        if target == 0:
            continue
        for c in (0, 1):
            weights[inside & (labels == c)] = target / counts[c]
    return weights


def effective_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of weighted rows: (Σw)² / Σw²."""
    total = float(np.sum(weights**2))
    return float(np.sum(weights) ** 2 / total) if total > 0 else 0.0


def _metrics(
    labels: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    if len(np.unique(labels[weights > 0] if weights is not None else labels)) < 2:
        return {"roc_auc": float("nan"), "accuracy": float("nan")}
    return {
        "roc_auc": float(roc_auc_score(labels, score, sample_weight=weights)),
        "accuracy": float(accuracy_score(labels, score >= 0.5, sample_weight=weights)),
    }


@dataclass(frozen=True)
class Matched:
    """An era-matched evaluation: weighted metrics of the model and the date-only baseline, the
    effective size of each class, and whether the data can give the figure at all."""

    model: dict[str, float]
    date_only: dict[str, float]
    effective_normal: float
    effective_illicit: float
    strata_with_both: int
    measurable: bool
    statement: str


def era_matched(
    labels: np.ndarray,
    model_score: np.ndarray,
    date_score: np.ndarray,
    strata: np.ndarray,
    min_effective: float = MIN_EFFECTIVE,
    what: str = "first-activity quarter",
) -> Matched:
    """Model and date-only metrics with both classes reweighted to the same distribution over
    `strata` (see `matching_weights`)."""
    weights = matching_weights(strata, labels)
    normal = effective_size(weights[labels == 0])
    illicit = effective_size(weights[labels == 1])
    both = int(
        sum(
            1
            for s in np.unique(strata)
            if ((strata == s) & (labels == 0)).any() and ((strata == s) & (labels == 1)).any()
        )
    )
    measurable = min(normal, illicit) >= min_effective
    model = _metrics(labels, model_score, weights) if weights.sum() else _metrics(labels[:0], [])
    date = _metrics(labels, date_score, weights) if weights.sum() else _metrics(labels[:0], [])
    if measurable:
        statement = (
            f"era-matched on the {what} ({both} strata hold both classes): ROC-AUC "
            f"{model['roc_auc']:.3f} (date only {date['roc_auc']:.3f}), effective "
            f"{normal:.0f} normal / {illicit:.0f} illicit"
        )
    else:
        statement = (
            f"not measurable on this data: matched on the {what}, the classes overlap in "
            f"{both} strata only, where {normal:.0f} normal and {illicit:.0f} illicit accounts "
            f"remain in effect (at least {min_effective:.0f} of each are needed)"
        )
    return Matched(model, date, normal, illicit, both, measurable, statement)


def _oriented_auc(labels: np.ndarray, values: np.ndarray) -> float:
    """max(AUC, 1 − AUC) of one feature's raw values: how well it ranks, in either direction."""
    if len(np.unique(labels)) < 2 or len(np.unique(values)) < 2:
        return 0.5
    auc = roc_auc_score(labels, values)
    return float(max(auc, 1.0 - auc))


def _year_auc(years: np.ndarray, values: np.ndarray) -> float:
    """How well one feature's values tell the year: each year against the rest, oriented AUC,
    averaged weighted by the year's size."""
    total, weight = 0.0, 0
    for year in np.unique(years):
        inside = years == year
        if inside.all() or not inside.any():
            continue
        total += _oriented_auc(inside.astype(int), values) * int(inside.sum())
        weight += int(inside.sum())
    return total / weight if weight else 0.5


def era_by_feature(
    matrix: np.ndarray, names: list[str], labels: np.ndarray, years: np.ndarray
) -> pl.DataFrame:
    """Per feature: its label AUC, its year AUC over all rows and within each class (where the
    label cannot explain it: a feature that tracks the date rather than behaviour shows there),
    and whether it predicts the era much better than the label (`ERA_MARGIN`, `ERA_FLOOR`)."""
    rows = []
    for j, name in enumerate(names):
        values = np.nan_to_num(matrix[:, j], nan=0.0)
        within = [
            _year_auc(years[labels == c], values[labels == c])
            for c in (0, 1)
            if (labels == c).sum() > 1
        ]
        label_auc = _oriented_auc(labels, values)
        within_auc = float(np.mean(within)) if within else 0.5
        rows.append(
            {
                "feature": name,
                "label_auc": label_auc,
                "year_auc": _year_auc(years, values),
                "year_auc_within_class": within_auc,
                "era_over_label": within_auc >= ERA_FLOOR and within_auc >= label_auc + ERA_MARGIN,
            }
        )
    return pl.DataFrame(rows).sort("year_auc_within_class", descending=True)


def era_predictability(
    matrix: np.ndarray, years: np.ndarray, seed: int = 0, folds: int = 5
) -> dict[str, float]:
    """How well all the features together predict the first-activity year (cross-validated
    gradient boosting): accuracy against always guessing the commonest year."""
    values, counts = np.unique(years, return_counts=True)
    majority = float(counts.max() / counts.sum())
    usable = values[counts >= folds]
    keep = np.isin(years, usable)
    if len(usable) < 2:
        years_seen = float(len(values))
        return {"year_accuracy": float("nan"), "year_majority": majority, "years": years_seen}
    x, y = matrix[keep], years[keep]
    predicted = np.empty(len(y), dtype=y.dtype)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(x, y):
        model = _OneThread(max_iter=100, random_state=seed)
        predicted[test] = model.fit(x[train], y[train]).predict(x[test])
    return {
        "year_accuracy": float((predicted == y).mean()),
        "year_majority": majority,
        "years": float(len(values)),
    }


@dataclass(frozen=True)
class EraReport:
    """Everything the era-aware evaluation measured for one set of out-of-fold predictions."""

    model: dict[str, float]
    date_only: dict[str, float]
    matched: Matched
    predictability: dict[str, float]
    by_feature: pl.DataFrame
    first_activity_range: dict[str, dict[str, str]]  # class → first / last first-activity day

    @property
    def era_features(self) -> list[str]:
        """Features that predict the era much better than they predict the label."""
        return self.by_feature.filter(pl.col("era_over_label"))["feature"].to_list()

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat metrics with stable names, for MLflow and the Dagster UI."""
        m = self.matched
        return {
            f"{prefix}date_only_roc_auc": self.date_only["roc_auc"],
            f"{prefix}date_only_accuracy": self.date_only["accuracy"],
            f"{prefix}margin_over_date_roc_auc": self.model["roc_auc"] - self.date_only["roc_auc"],
            f"{prefix}margin_over_date_accuracy": self.model["accuracy"]
            - self.date_only["accuracy"],
            f"{prefix}era_matched_roc_auc": m.model["roc_auc"] if m.measurable else float("nan"),
            f"{prefix}era_matched_accuracy": m.model["accuracy"] if m.measurable else float("nan"),
            f"{prefix}era_matched_date_only_roc_auc": m.date_only["roc_auc"]
            if m.measurable
            else float("nan"),
            f"{prefix}era_matched_measurable": float(m.measurable),
            f"{prefix}era_matched_effective_normal": m.effective_normal,
            f"{prefix}era_matched_effective_illicit": m.effective_illicit,
            f"{prefix}era_year_accuracy": self.predictability["year_accuracy"],
            f"{prefix}era_year_majority": self.predictability["year_majority"],
            f"{prefix}era_features": float(len(self.era_features)),
        }


def _range(days: np.ndarray) -> dict[str, str]:
    finite = days[np.isfinite(days)]
    if not len(finite):
        return {"first": "", "last": ""}
    as_dates = (finite * SECONDS_PER_DAY).astype("datetime64[s]").astype("datetime64[D]")
    return {"first": str(as_dates.min()), "last": str(as_dates.max())}


def evaluate_era(
    labels: np.ndarray,
    out_of_fold: np.ndarray,
    days: np.ndarray,
    fold_of_row: np.ndarray,
    matrix: np.ndarray,
    names: list[str],
    seed: int = 0,
    min_effective: float = MIN_EFFECTIVE,
) -> EraReport:
    """The era-aware evaluation of a model's out-of-fold predictions: date-only baseline on the
    same folds, era-matched metrics, and what the features say about the era. `days` is each
    row's first activity (days since the epoch; NaN for an account without any, which is a
    value of its own: "never active"); `matrix` the model's numeric features."""
    date_score = date_only_out_of_fold(days, labels, fold_of_row, seed)
    years = year_of(days)
    return EraReport(
        model=_metrics(labels, out_of_fold),
        date_only=_metrics(labels, date_score),
        matched=era_matched(labels, out_of_fold, date_score, quarter_of(days), min_effective),
        predictability=era_predictability(matrix, years, seed),
        by_feature=era_by_feature(matrix, names, labels, years),
        first_activity_range={
            "normal": _range(days[labels == 0]),
            "illicit": _range(days[labels == 1]),
        },
    )


def markdown(report: EraReport) -> str:
    """The era-aware evaluation as a short Markdown table and statement."""
    m = report.matched
    lines = [
        "| | ROC-AUC | accuracy |",
        "|---|---:|---:|",
        f"| model (out of fold) | {report.model['roc_auc']:.4f} | {report.model['accuracy']:.4f} |",
        f"| first-activity date only | {report.date_only['roc_auc']:.4f} | "
        f"{report.date_only['accuracy']:.4f} |",
    ]
    if m.measurable:
        lines.append(
            f"| model, era-matched | {m.model['roc_auc']:.4f} | {m.model['accuracy']:.4f} |"
        )
        lines.append(
            f"| date only, era-matched | {m.date_only['roc_auc']:.4f} | "
            f"{m.date_only['accuracy']:.4f} |"
        )
    ranges = ", ".join(
        f"{c} {r['first']} … {r['last']}" for c, r in report.first_activity_range.items()
    )
    p = report.predictability
    lines += [
        "",
        f"Era-matched: {m.statement}.",
        f"First activity: {ranges}.",
        f"The features predict the first-activity year with accuracy {p['year_accuracy']:.3f} "
        f"(always the commonest year: {p['year_majority']:.3f}).",
        "Features that predict the era much better than the label: "
        + (", ".join(report.era_features) or "none")
        + ".",
    ]
    return "\n".join(lines)
