"""The evaluations on labelled accounts the classifier never trained on, between reading and
finishing: xblock_2019 (classes that overlap in time) and an out-of-time folder scored with no
retraining, each beside the date-only and size-only baselines, returned as ModelResults."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from eth_assets.features.as_of import parse_as_of
from eth_assets.models.classifier_results import REGISTERED_MODEL
from eth_assets.models.dataset_rules import first_activity, model_rules, rules_of_fit, training_rows
from eth_assets.models.evaluation_sets import folder_features
from eth_assets.models.model_result import Check, ModelResult

if TYPE_CHECKING:
    from eth_assets.models.evaluation_assets import (
        EraMatchedEvaluationConfig,
        OutOfTimeEvaluationConfig,
    )

OUT_OF_TIME_CHECK = "out_of_time_evaluation_auc_floor"
SCORERS = ("model", "date_only", "size_only")
SUBSET_KEYS = {
    "all accounts": "all",
    "era-matched (first-activity quarter)": "era_matched",
    "era- and size-matched (quarter × size band)": "era_size_matched",
    "era-, size- and activity-matched (quarter × size band × activity band)": (
        "era_size_activity_matched"
    ),
}


def flat_metrics(table: pl.DataFrame, prefix: str) -> dict[str, float]:
    """MLflow metrics with stable names from an evaluate_scores table's named subsets."""
    metrics: dict[str, float] = {}
    for row in table.iter_rows(named=True):
        key = SUBSET_KEYS.get(row["subset"])
        if key is not None:
            metrics |= row_metrics(row, f"{prefix}{key}")
    return metrics


def row_metrics(row: dict[str, Any], name: str) -> dict[str, float]:
    """Each scorer's ROC-AUC and the class counts of one evaluate_scores row."""
    metrics = {f"{name}_{scorer}_roc_auc": row[f"{scorer}_roc_auc"] for scorer in SCORERS}
    return metrics | {f"{name}_normal": row["normal"], f"{name}_illicit": row["illicit"]}


def evaluate_era_matched(
    xblock: pl.DataFrame,
    flagged: pl.DataFrame,
    training: pl.DataFrame,
    fit: dict[str, str],
    folder: Path,
    config: EraMatchedEvaluationConfig,
) -> ModelResult:
    """CV within xblock_2019 and this data dir's model on its unseen accounts, on the features
    the set supports, beside date-only and size-only models."""
    from eth_assets.models.ml.classifier import ClassifierSettings
    from eth_assets.models.ml.era import first_activity_days
    from eth_assets.models.ml.held_out import held_out_evaluation, markdown, restricted_rules
    from eth_assets.models.xblock import SUPPORTED, UNSUPPORTED

    frame, labels, _ = training_rows(flagged, training)
    rules = model_rules(rules_of_fit(fit), config.store_dependent_features)
    features = tuple(c for c in SUPPORTED if c in rules.numeric_columns)
    held = held_out_evaluation(
        xblock,
        xblock["label"].to_numpy().astype(int),
        first_activity_days(xblock["first_activity"]),
        ~xblock["in_raw_txns"].to_numpy().astype(bool),
        frame,
        labels,
        first_activity(training, frame),
        restricted_rules(rules, features),
        ClassifierSettings(folds=config.folds, seed=config.seed, threads=config.threads),
        config.size_bands,
    )
    within = held.within.with_columns(evaluation=pl.lit("within-set CV"))
    outside = held.outside.with_columns(evaluation=pl.lit("this model, unseen"))
    metrics = flat_metrics(held.within, "within_") | flat_metrics(held.outside, "outside_")
    metrics |= {f"within_{k}": v for k, v in held.within_counts.items()}
    metrics |= {f"outside_{k}": v for k, v in held.outside_counts.items()}
    return ModelResult(
        experiment="era_matched_evaluation",
        run_name=f"xblock_2019, {len(features)} features",
        as_of=fit["as_of"],
        source=fit["chain_source"],
        tables={"era_matched_evaluation": pl.concat([within, outside])},
        params={
            **config.model_dump(),
            "folder": str(folder),
            "features": ",".join(features),
            "left_out": ",".join(sorted(UNSUPPORTED)),
        },
        metrics=metrics,
        metadata={"features": ", ".join(features)},
        markdown={
            "within_set_cv": f"{held.within_counts}\n\n{markdown(held.within)}",
            "this_model_on_unseen_accounts": f"{held.outside_counts}\n\n{markdown(held.outside)}",
            "left_out_features": "\n".join(f"- `{k}`: {v}" for k, v in sorted(UNSUPPORTED.items())),
        },
    )


def out_of_time_scores(
    rows: pl.DataFrame, model: Any, flagged: pl.DataFrame, training: pl.DataFrame
) -> dict[str, np.ndarray]:
    """The model's raw probability of each row, beside a date-only and a size-only model
    fitted on the training set."""
    from eth_assets.models.ml.era import first_activity_days, fit_date_model
    from eth_assets.models.ml.held_out import SIZE_FEATURE, one_feature_model

    train, train_labels, _ = training_rows(flagged, training)
    days = first_activity_days(rows["first_seen"]).reshape(-1, 1)
    size = rows[SIZE_FEATURE].to_numpy().astype(float).reshape(-1, 1)
    date_model = fit_date_model(first_activity(training, train), train_labels)
    size_model = one_feature_model(train[SIZE_FEATURE].to_numpy().astype(float), train_labels)
    return {
        "model": model.score(rows)["raw_probability"].to_numpy(),
        "date_only": date_model.predict_proba(days)[:, 1],
        "size_only": size_model.predict_proba(size)[:, 1],
    }


def evaluate_out_of_time(
    folder: Path,
    accounts: pl.DataFrame,
    as_of: datetime,
    model: Any,
    version: int,
    flagged: pl.DataFrame,
    training: pl.DataFrame,
    features: tuple[tuple[str, ...], Path | None],
    config: OutOfTimeEvaluationConfig,
) -> ModelResult:
    """The model scores another folder's labelled accounts, featurised by the pipeline's own
    SQL (`features`: the excluded tokens and the market gas file), on all, active and
    common-window accounts; the floor on active accounts is a warning check."""
    from eth_assets.models.ml.era import first_activity_days
    from eth_assets.models.ml.held_out import SIZE_FEATURE, activity_of, evaluate_scores, markdown

    excluded, market_gas = features
    rows = folder_features(folder, accounts, as_of, excluded, market_gas)
    scores = out_of_time_scores(rows, model, flagged, training)
    labels = rows["label"].to_numpy().astype(int)
    days = first_activity_days(rows["first_seen"])
    size = rows[SIZE_FEATURE].to_numpy().astype(float)
    active = rows["has_activity"].to_numpy()
    window_end = first_activity_days(pl.Series([parse_as_of(config.common_window_end)]))[0]
    window = active & (np.nan_to_num(days, nan=np.inf) < window_end)
    subsets = {"all": np.ones(len(labels), dtype=bool), "active": active, "common_window": window}
    activity = activity_of(rows)
    tables = {
        name: evaluate_scores(
            labels[mask],
            {k: v[mask] for k, v in scores.items()},
            size[mask],
            days[mask],
            activity=activity[mask] if activity is not None else None,
        )
        for name, mask in subsets.items()
    }
    headline = {name: table.row(0, named=True) for name, table in tables.items()}
    metrics: dict[str, float] = {}
    for name, row in headline.items():
        metrics |= row_metrics(row, f"oot_{name}")
    active_auc = float(headline["active"]["model_roc_auc"])
    text = "\n\n".join(f"**{name}**\n\n{markdown(table)}" for name, table in tables.items())
    return ModelResult(
        experiment="out_of_time_evaluation",
        run_name=f"{folder.name}, v{version}",
        as_of=as_of,
        source=f"parquet {folder}",
        tables={
            "out_of_time_evaluation": pl.concat(
                [t.with_columns(accounts=pl.lit(n)) for n, t in tables.items()]
            )
        },
        params={
            **config.model_dump(),
            "folder": str(folder),
            "model_version": version,
            "as_of": as_of.isoformat(),
            "model_store_kind": getattr(model, "store_kind", ""),
        },
        metrics=metrics,
        row_count=len(labels),
        metadata={
            "model": f"{REGISTERED_MODEL} v{version}",
            "active_roc_auc": active_auc,
            "date_only_active_roc_auc": float(headline["active"]["date_only_roc_auc"]),
        },
        markdown={"evaluation": text},
        checks=[
            Check(
                OUT_OF_TIME_CHECK,
                bool(active_auc >= config.auc_floor),
                {"active_roc_auc": active_auc, "floor": config.auc_floor},
                warn=True,
            )
        ],
    )
