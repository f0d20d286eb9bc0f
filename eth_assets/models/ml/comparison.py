"""Model comparison on the same folds: the CatBoost paper's baselines beside CatBoost.

Every model sees the same training and test rows per fold and the same cleaning, refitted on
each training fold. Models other than CatBoost get the numeric features only, as sign·log1p
(and standardised where they need it) and leave out the two token-name columns; CatBoost gets those
as categorical features, and its variant the investor profile as one more.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from catboost import CatBoostClassifier, Pool
from lightgbm import LGBMClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier

from eth_assets.models.ml.cleaning import CleaningRules, fit_cleaning
from eth_assets.models.ml.embedding import signed_log
from eth_assets.models.ml.era import era_matched, fit_date_model, quarter_of

DATE_ONLY = "first-activity date only"


def _scaled(model: object) -> object:
    """`model` behind standard scaling."""
    return make_pipeline(StandardScaler(), model)


def baseline_models(seed: int, threads: int) -> dict[str, Callable[[], object]]:
    """The paper's comparison models, each a factory of an unfitted scikit-learn estimator."""
    return {
        "logistic regression": lambda: _scaled(LogisticRegression(max_iter=2000)),
        "decision tree (CART)": lambda: DecisionTreeClassifier(
            min_samples_leaf=2, random_state=seed
        ),
        "linear SVM": lambda: _scaled(LinearSVC(C=1.0, max_iter=5000, random_state=seed)),
        "neural network (MLP)": lambda: _scaled(
            MLPClassifier(
                hidden_layer_sizes=(64, 32), max_iter=500, early_stopping=True, random_state=seed
            )
        ),
        "random forest": lambda: RandomForestClassifier(
            n_estimators=200, n_jobs=threads, random_state=seed
        ),
        "LightGBM": lambda: LGBMClassifier(
            n_estimators=200,
            learning_rate=0.1,
            num_threads=threads,
            random_state=seed,
            verbose=-1,
        ),
        "XGBoost": lambda: XGBClassifier(
            n_estimators=200, learning_rate=0.1, max_depth=6, n_jobs=threads, random_state=seed
        ),
    }


def _scores(model: object, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(decision at the model's own threshold, a score for ROC-AUC)."""
    if hasattr(model, "predict_proba"):
        probability = model.predict_proba(matrix)[:, 1]
        return probability >= 0.5, probability
    margin = model.decision_function(matrix)
    return margin >= 0, margin


@dataclass(frozen=True)
class Comparison:
    """Per model and fold: accuracy, ROC-AUC, F1, fit seconds; and the summary table (with the
    era-matched ROC-AUC of each model's out-of-fold predictions, NaN where the data cannot give
    one, and why in `era_statement`)."""

    folds: pl.DataFrame
    table: pl.DataFrame
    era_statement: str = "no first-activity dates given"


def compare_models(
    frame: pl.DataFrame,
    labels: np.ndarray,
    fold_of_row: np.ndarray,
    rules: CleaningRules,
    catboost_params: dict[str, object],
    seed: int = 0,
    threads: int = 2,
    profiles: np.ndarray | None = None,
    models: tuple[str, ...] | None = None,
    days: np.ndarray | None = None,
) -> Comparison:
    """Every baseline, CatBoost and (with `profiles`) CatBoost with the profile as a feature;
    with `days` (first activity, days since the epoch), the date-only baseline first and every
    model's era-matched ROC-AUC."""
    factories = baseline_models(seed, threads)
    chosen = models or (*factories, "CatBoost", "CatBoost + investor profile")
    if days is not None:
        chosen = (DATE_ONLY, *chosen)
    out_of_fold = {name: np.full(len(labels), np.nan) for name in chosen}
    rows = []
    for fold in range(int(fold_of_row.max()) + 1):
        train = np.flatnonzero(fold_of_row != fold)
        test = np.flatnonzero(fold_of_row == fold)
        cleaning, _ = fit_cleaning(frame[train], rules)
        numeric = list(cleaning.numeric_features)
        # sign·log1p: amounts span tens of orders of magnitude (scam tokens reach 1e59, beyond
        # float32, which the tree models use); monotone, so trees split the same way
        train_x = signed_log(cleaning.impute(frame[train], numeric).to_numpy())
        test_x = signed_log(cleaning.impute(frame[test], numeric).to_numpy())
        for name in chosen:
            if name == DATE_ONLY:
                started = time.perf_counter()
                date_model = fit_date_model(days[train], labels[train], seed)
                score = date_model.predict_proba(days[test].reshape(-1, 1))[:, 1]
                decided = score >= 0.5
                seconds = time.perf_counter() - started
            elif name.startswith("CatBoost") and (profiles is not None or name == "CatBoost"):
                extra = profiles if name != "CatBoost" else None
                started = time.perf_counter()
                decided, score = _catboost_fold(
                    frame, labels, train, test, cleaning, catboost_params, seed, threads, extra
                )
                seconds = time.perf_counter() - started
            elif name in factories:
                started = time.perf_counter()
                model = factories[name]().fit(train_x, labels[train])
                seconds = time.perf_counter() - started
                decided, score = _scores(model, test_x)
            else:
                continue
            out_of_fold[name][test] = score
            rows.append(
                {
                    "model": name,
                    "fold": fold,
                    "accuracy": float(accuracy_score(labels[test], decided)),
                    "roc_auc": float(roc_auc_score(labels[test], score)),
                    "f1": float(f1_score(labels[test], decided, zero_division=0)),
                    "fit_seconds": seconds,
                }
            )
    folds = pl.DataFrame(rows)
    order = {name: i for i, name in enumerate(chosen)}
    table = (
        folds.group_by("model")
        .agg(
            *(pl.col(m).mean().alias(m) for m in ("accuracy", "roc_auc", "f1", "fit_seconds")),
            *(
                pl.col(m).std().alias(f"{m}_sd")
                for m in ("accuracy", "roc_auc", "f1", "fit_seconds")
            ),
        )
        .with_columns(pl.col("model").replace_strict(order, return_dtype=pl.Int64).alias("order"))
        .sort("order")
        .drop("order")
    )
    if days is None:
        return Comparison(folds=folds, table=table)
    strata = quarter_of(days)
    matched = {
        name: era_matched(
            labels, _as_probability(out_of_fold[name]), out_of_fold[DATE_ONLY], strata
        )
        for name in table["model"]
    }
    era_auc = [m.model["roc_auc"] if m.measurable else float("nan") for m in matched.values()]
    table = table.with_columns(era_matched_roc_auc=pl.Series(era_auc, dtype=pl.Float64))
    return Comparison(folds, table, next(iter(matched.values())).statement)


def _as_probability(score: np.ndarray) -> np.ndarray:
    """A margin (linear SVM) squashed to (0, 1) so accuracy at 0.5 means the model's own
    threshold; ROC-AUC is unchanged by the monotone map."""
    if np.nanmin(score) >= 0.0 and np.nanmax(score) <= 1.0:
        return score
    return 1.0 / (1.0 + np.exp(-score))


def _catboost_fold(
    frame: pl.DataFrame,
    labels: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    cleaning,
    params: dict[str, object],
    seed: int,
    threads: int,
    profiles: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """CatBoost on one fold, token names (and the profile, when given) as categories."""
    categorical = list(cleaning.categorical_features)

    def pool(rows: np.ndarray, with_labels: bool) -> Pool:
        data = cleaning.apply(frame[rows], keep=())
        if profiles is not None:
            data = data.with_columns(pl.Series("profile", profiles[rows]).cast(pl.Utf8))
        names = categorical + (["profile"] if profiles is not None else [])
        return Pool(
            data.to_pandas(), label=labels[rows] if with_labels else None, cat_features=names
        )

    model = CatBoostClassifier(
        **params, random_seed=seed, thread_count=threads, allow_writing_files=False, verbose=False
    ).fit(pool(train, True))
    probability = model.predict_proba(pool(test, False))[:, 1]
    return probability >= 0.5, probability


def markdown(table: pl.DataFrame) -> str:
    """The comparison as a Markdown table of mean ± sd."""
    era = "era_matched_roc_auc" in table.columns
    lines = [
        "| model | accuracy | ROC-AUC | F1 | fit seconds |"
        + (" era-matched ROC-AUC |" if era else ""),
        "|---|---:|---:|---:|---:|" + ("---:|" if era else ""),
    ]
    for row in table.iter_rows(named=True):
        cells = [f"{row[m]:.3f} ± {row[f'{m}_sd']:.3f}" for m in ("accuracy", "roc_auc", "f1")]
        cells.append(f"{row['fit_seconds']:.2f} ± {row['fit_seconds_sd']:.2f}")
        if era:
            value = row["era_matched_roc_auc"]
            cells.append("n/a" if value is None or np.isnan(value) else f"{value:.3f}")
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
