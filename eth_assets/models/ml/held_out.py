"""Evaluations on labelled accounts the classifier never trained on, each beside the simplest
baselines that could explain it: a model of the first-activity date alone and one of the total
ether received alone (size), within bands of size and matched on era and size.

- `evaluate_scores`: one scorer set (model, date only, size only) on named subsets of accounts.
- `held_out_evaluation`: cross-validation within a set (grid chosen inside each fold) plus the
  same baselines on the same folds, and a model trained elsewhere scoring the set's unseen
  accounts — both reported overall, per size band and era/size-matched.

Plain functions (no Dagster, no MLflow).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from eth_assets.models.ml.classifier import (
    ClassifierSettings,
    choose_params,
    cross_validate,
    fit_classifier,
    stratified_folds,
)
from eth_assets.models.ml.cleaning import CleaningRules
from eth_assets.models.ml.era import (
    MIN_EFFECTIVE,
    effective_size,
    fit_date_model,
    matching_weights,
    quarter_of,
)

SIZE_FEATURE = "total_ether_received"
# Activity: transactions sent and received (features every schema supports), in 3 bands.
ACTIVITY_FEATURES = ("sent_tnx", "received_tnx")
ACTIVITY_BANDS = 3
SCORERS = ("model", "date_only", "size_only")


def _auc(labels: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None) -> float:
    used = labels if weights is None else labels[weights > 0]
    if len(np.unique(used)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, score, sample_weight=weights))


def activity_of(frame: pl.DataFrame) -> np.ndarray | None:
    """Transactions sent and received per row, the activity that matching holds equal; None
    when the frame lacks them."""
    if not set(ACTIVITY_FEATURES) <= set(frame.columns):
        return None
    return frame.select(pl.sum_horizontal(ACTIVITY_FEATURES)).to_series().to_numpy().astype(float)


def one_feature_model(values: np.ndarray, labels: np.ndarray, seed: int = 0):
    """A model of one feature alone (e.g. the size baseline), any shape."""
    return fit_date_model(values, labels, seed)  # the same 1-D model as the date baseline


def size_bands(values: np.ndarray, bands: int = 5) -> np.ndarray:
    """Band of each value by the pooled quantiles (0 … bands−1; a value on an edge goes to the
    band below, so a heap of equal values, e.g. zeros, fills the lowest band): accounts of
    similar size. A missing value is an error: it would collapse the bands."""
    if np.isnan(values).any():
        raise ValueError(f"{int(np.isnan(values).sum())} sizes are missing: bands need every value")
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bands + 1)[1:-1]))
    return np.searchsorted(edges, values, side="left")


def evaluate_scores(
    labels: np.ndarray,
    scores: dict[str, np.ndarray],
    size: np.ndarray,
    days: np.ndarray,
    bands: int = 5,
    min_effective: float = MIN_EFFECTIVE,
    activity: np.ndarray | None = None,
) -> pl.DataFrame:
    """ROC-AUC of every scorer over all accounts, within each size band, matched on the
    first-activity quarter, and matched on quarter × size band (× activity band, the number of
    transactions, when `activity` is given); with class counts (effective counts for the
    matched rows) and whether each figure is measurable (at least `min_effective` accounts of
    each class)."""
    band = size_bands(size, bands)
    rows = [_row("all accounts", labels, scores, None, min_effective)]
    for b in np.unique(band):
        inside = band == b
        low, high = float(size[inside].min()), float(size[inside].max())
        rows.append(
            _row(
                f"size band {b + 1} ({SIZE_FEATURE} {low:.3g} … {high:.3g})",
                labels[inside],
                {k: v[inside] for k, v in scores.items()},
                None,
                min_effective,
            )
        )
    quarters = quarter_of(days)
    matchings = [
        ("era-matched (first-activity quarter)", quarters),
        ("era- and size-matched (quarter × size band)", quarters * 100 + band),
    ]
    if activity is not None:
        active_band = size_bands(activity, ACTIVITY_BANDS)
        matchings.append(
            (
                "era-, size- and activity-matched (quarter × size band × activity band)",
                (quarters * 100 + band) * 100 + active_band,
            )
        )
    for name, strata in matchings:
        weights = matching_weights(strata, labels)
        rows.append(_row(name, labels, scores, weights, min_effective))
    return pl.DataFrame(rows)


def _row(
    subset: str,
    labels: np.ndarray,
    scores: dict[str, np.ndarray],
    weights: np.ndarray | None,
    min_effective: float = MIN_EFFECTIVE,
) -> dict[str, object]:
    if weights is None:
        normal, illicit = float((labels == 0).sum()), float((labels == 1).sum())
    else:
        normal = effective_size(weights[labels == 0])
        illicit = effective_size(weights[labels == 1])
    # too few of a class (in effect) and a ROC-AUC says nothing: n/a rather than a number
    measurable = min(normal, illicit) >= min_effective
    row: dict[str, object] = {"subset": subset, "normal": normal, "illicit": illicit}
    for name in SCORERS:
        auc = _auc(labels, scores[name], weights) if name in scores and measurable else np.nan
        row[f"{name}_roc_auc"] = float(auc)
    row["measurable"] = measurable
    return row


@dataclass(frozen=True)
class HeldOut:
    """Within-set CV and the outside model on unseen accounts, each as an `evaluate_scores`
    table; the features used and the counts."""

    within: pl.DataFrame
    outside: pl.DataFrame
    features: tuple[str, ...]
    within_counts: dict[str, int]
    outside_counts: dict[str, int]


def restricted_rules(rules: CleaningRules, features: tuple[str, ...]) -> CleaningRules:
    """`rules` over the numeric `features` only (no token-name categories)."""
    return replace(
        rules,
        numeric_columns=tuple(c for c in rules.numeric_columns if c in features),
        categorical_columns=(),
    )


def held_out_evaluation(
    frame: pl.DataFrame,
    labels: np.ndarray,
    days: np.ndarray,
    unseen: np.ndarray,
    train_frame: pl.DataFrame,
    train_labels: np.ndarray,
    train_days: np.ndarray,
    rules: CleaningRules,
    settings: ClassifierSettings,
    bands: int = 5,
) -> HeldOut:
    """(1) stratified CV within `frame` (CatBoost with the grid chosen inside each fold, and the
    date-only and size-only models on the same folds); (2) CatBoost, date-only and size-only
    models trained on `train_frame` scoring the rows of `frame` where `unseen` is true. Both use
    the features of `rules` only."""
    features = tuple(rules.numeric_columns)
    size = frame[SIZE_FEATURE].to_numpy().astype(float)
    activity = activity_of(frame)
    folds = stratified_folds(labels, settings.folds, settings.seed)
    cv = cross_validate(frame, labels, rules, settings, folds)
    date_oof = np.full(len(labels), np.nan)
    size_oof = np.full(len(labels), np.nan)
    for fold in range(settings.folds):
        train, test = folds != fold, folds == fold
        date_oof[test] = fit_date_model(days[train], labels[train], settings.seed).predict_proba(
            days[test].reshape(-1, 1)
        )[:, 1]
        size_model = one_feature_model(size[train], labels[train], settings.seed)
        size_oof[test] = size_model.predict_proba(size[test].reshape(-1, 1))[:, 1]
    within = evaluate_scores(
        labels,
        {"model": cv.out_of_fold, "date_only": date_oof, "size_only": size_oof},
        size,
        days,
        bands,
        activity=activity,
    )
    params, _ = choose_params(train_frame, train_labels, rules, settings)
    outside_model = fit_classifier(train_frame, train_labels, rules, params, settings)
    train_size = train_frame[SIZE_FEATURE].to_numpy().astype(float)
    rows = frame.filter(pl.Series(unseen))
    outside = evaluate_scores(
        labels[unseen],
        {
            "model": outside_model.predict_proba(rows),
            "date_only": fit_date_model(train_days, train_labels, settings.seed).predict_proba(
                days[unseen].reshape(-1, 1)
            )[:, 1],
            "size_only": one_feature_model(train_size, train_labels, settings.seed).predict_proba(
                size[unseen].reshape(-1, 1)
            )[:, 1],
        },
        size[unseen],
        days[unseen],
        bands,
        activity=activity[unseen] if activity is not None else None,
    )
    return HeldOut(
        within=within,
        outside=outside,
        features=features,
        within_counts={"normal": int((labels == 0).sum()), "illicit": int((labels == 1).sum())},
        outside_counts={
            "normal": int((labels[unseen] == 0).sum()),
            "illicit": int((labels[unseen] == 1).sum()),
            "trained_on_normal": int((train_labels == 0).sum()),
            "trained_on_illicit": int((train_labels == 1).sum()),
        },
    )


def markdown(table: pl.DataFrame) -> str:
    """An `evaluate_scores` table as Markdown (n/a where the data cannot give the figure)."""
    lines = [
        "| accounts | normal | illicit | model ROC-AUC | date only | size only |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in table.iter_rows(named=True):
        cells = [
            "n/a" if np.isnan(row[f"{s}_roc_auc"]) else f"{row[f'{s}_roc_auc']:.3f}"
            for s in SCORERS
        ]
        lines.append(
            f"| {row['subset']} | {row['normal']:.0f} | {row['illicit']:.0f} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)
