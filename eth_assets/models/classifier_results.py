"""The classifier stage's work between reading the warehouse and finishing: the training set,
the CatBoost classifier with its era check and plots, and the model comparison, each returned as
a ModelResult (tables, run, metadata) for the finishing step.

CatBoost, scikit-learn, LightGBM, XGBoost and matplotlib are imported inside the functions: every
step process loads the whole code location, and these libraries cost seconds to import."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from eth_assets.common.markdown import markdown_table
from eth_assets.models.dataset_rules import (
    first_activity,
    model_rules,
    read_label_file,
    rules_of_fit,
    training_labels,
    training_rows,
)
from eth_assets.models.model_result import CANDIDATE_FILE, ModelFile, ModelResult

if TYPE_CHECKING:
    from eth_assets.models.classifier_assets import (
        IllicitClassifierConfig,
        ModelComparisonConfig,
        TrainingSetConfig,
    )
    from eth_assets.models.ml.classifier import ClassifierRun
    from eth_assets.models.ml.era import EraReport

REGISTERED_MODEL = "eth_assets.illicit_classifier"
GATE_CHECK = "illicit_classifier_champion_gate"


def build_training_set(
    cleaned: pl.DataFrame,
    activity: pl.DataFrame,
    label_path: Path | None,
    config: TrainingSetConfig,
) -> ModelResult:
    """Labelled addresses with their fold, who trains and who not, and why some are left out."""
    from eth_assets.models.ml.classifier import stratified_folds

    labels = training_labels(
        cleaned.select("address", "is_labelled_illicit"),
        read_label_file(label_path) if label_path else None,
        config.label_column,
        tuple(config.illicit_values),
        tuple(config.normal_values),
    )
    table = (
        cleaned.select("address", "has_activity")
        .join(labels.frame, on="address", how="inner")
        .join(activity.select("address", "first_seen", "last_seen"), on="address", how="left")
        .with_columns(
            in_training=pl.col("has_activity") | pl.lit(config.include_inactive),
            label_rule=pl.lit(labels.rule),
        )
        .sort("address")
    )
    training = table.filter(pl.col("in_training"))
    folds = stratified_folds(training["label"].to_numpy(), config.folds, config.seed)
    table = table.join(
        training.select("address").with_columns(fold=pl.Series(folds, dtype=pl.Int32)),
        on="address",
        how="left",
    )
    counts = (
        table.group_by("label")
        .agg(
            labelled=pl.len(),
            without_activity=(~pl.col("has_activity")).sum(),
            in_training=pl.col("in_training").sum(),
        )
        .sort("label")
        .with_columns(pl.col("label").replace_strict({0: "normal", 1: "illicit"}))
    )
    left_out = pl.DataFrame(
        {"reason": list(labels.left_out), "addresses": list(labels.left_out.values())},
        schema={"reason": pl.Utf8, "addresses": pl.Int64},
    )
    return ModelResult(
        tables={"training_set": table},
        row_count=table.height,
        metadata={
            "label_rule": labels.rule,
            "label_file": str(label_path) if label_path else "none",
            "training_rows": training.height,
            "folds": config.folds,
        },
        markdown={"class_counts": markdown_table(counts), "left_out": markdown_table(left_out)},
    )


def check_folds_fit_classes(paper_folds: list[int], labels: np.ndarray) -> None:
    """Fail before training when a k of `paper_table_folds` exceeds the accounts of the
    smaller class (stratified k-fold needs one of each class per fold)."""
    smallest = int(min((labels == 0).sum(), (labels == 1).sum()))
    too_many = [k for k in paper_folds if k > smallest]
    if too_many:
        raise ValueError(
            f"paper_table_folds={paper_folds}: {too_many} exceed the {smallest} accounts of the "
            f"smaller class in training_set; use values from 2 to {smallest}"
        )


def classifier_plots(
    run: ClassifierRun, frame: pl.DataFrame, labels: np.ndarray, folder: Path
) -> dict[str, Path]:
    """SHAP summary (on at most 2,000 addresses), log-loss per iteration and reliability."""
    from eth_assets.models.ml.plots import logloss_plot, reliability_plot, shap_summary_plot

    model = run.model
    sample = frame.sample(min(frame.height, 2000), seed=0)
    shap = model.shap_values(sample)
    cleaned = model.cleaning.apply(sample, keep=())
    colour = cleaned.with_columns(pl.col(pl.Utf8).cast(pl.Categorical).to_physical())
    return {
        "shap_summary": shap_summary_plot(
            shap, colour.to_numpy().astype(float), model.features, folder / "shap_summary.png"
        ),
        "logloss": logloss_plot(run.cv.train_logloss, run.cv.test_logloss, folder / "logloss.png"),
        "reliability": reliability_plot(
            labels,
            run.cv.out_of_fold,
            run.calibration_report.cross_fitted,
            folder / "reliability.png",
        ),
    }


def train_classifier(
    flagged: pl.DataFrame,
    training: pl.DataFrame,
    fit: dict[str, str],
    store_kind: str,
    config: IllicitClassifierConfig,
    folder: Path,
) -> ModelResult:
    """CatBoost with its grid on inner validation, k-fold CV, calibration and the era check;
    the model saved as the candidate file the champion gate decides on."""
    from eth_assets.models.ml.classifier import GRIDS, ClassifierSettings, train_illicit_classifier
    from eth_assets.models.ml.era import evaluate_era

    frame, labels, folds = training_rows(flagged, training)
    check_folds_fit_classes(config.paper_table_folds, labels)
    settings = ClassifierSettings(
        grid=GRIDS[config.grid],
        folds=int(folds.max()) + 1,
        seed=config.seed,
        threads=config.threads,
        validation_share=config.validation_share,
    )
    run = train_illicit_classifier(
        frame,
        labels,
        folds,
        model_rules(rules_of_fit(fit), config.store_dependent_features),
        settings,
        {"medium": config.medium_from, "critical": config.critical_from},
        fit["as_of"],
        fit["chain_source"],
        tuple(config.paper_table_folds),
        store_kind,
    )
    cleaning = run.model.cleaning
    era = evaluate_era(
        labels,
        run.cv.out_of_fold,
        first_activity(training, frame),
        folds,
        cleaning.impute(frame, list(cleaning.numeric_features)).to_numpy(),
        list(cleaning.numeric_features),
        config.seed,
    )
    candidate = run.model.save(folder / CANDIDATE_FILE)
    plots = classifier_plots(run, frame, labels, folder)
    return classifier_result(
        run, era, frame.height, training, fit, config, folder, candidate, plots
    )


def classifier_metrics(run: ClassifierRun, era: EraReport, rows: int) -> dict[str, float]:
    """The run's metrics: CV summary, calibration, class counts, era and the paper's table."""
    from eth_assets.models.ml.classifier import METRICS

    metrics = {f"cv_{k}": v for k, v in run.cv.summary().items()}
    metrics |= {
        "brier_before_calibration": run.calibration.brier_before,
        "brier_after_calibration": run.calibration.brier_after,
        "threshold": run.calibration.threshold,
        "training_rows": float(rows),
        "illicit": float(run.class_counts["illicit"]),
        "normal": float(run.class_counts["normal"]),
        "cv_seconds": run.cv.seconds,
        **run.calibration_report.metrics(),
        **era.metrics(),
    }
    for row in run.paper_table.iter_rows(named=True):
        metrics |= {f"cv{row['folds']}_{m}": row[m] for m in METRICS}
    return metrics


def classifier_steps(run: ClassifierRun) -> list[tuple[int, dict[str, float]]]:
    """Metrics by step: each fold's scores, and the log-loss every 10th iteration."""
    from eth_assets.models.ml.classifier import METRICS

    steps = [
        (row["fold"], {f"fold_{m}": row[m] for m in METRICS})
        for row in run.cv.folds.iter_rows(named=True)
    ]
    pairs = zip(run.cv.train_logloss, run.cv.test_logloss, strict=True)
    steps += [
        (step, {"logloss_train": train, "logloss_test": test})
        for step, (train, test) in enumerate(pairs)
        if step % 10 == 0
    ]
    return steps


def classifier_result(
    run: ClassifierRun,
    era: EraReport,
    rows: int,
    training: pl.DataFrame,
    fit: dict[str, str],
    config: IllicitClassifierConfig,
    folder: Path,
    candidate: Path,
    plots: dict[str, Path],
) -> ModelResult:
    """What the classifier stores, logs and shows; the candidate registered under the gate."""
    from eth_assets.models.ml.calibration import DESCRIPTIONS
    from eth_assets.models.ml.calibration import markdown as calibration_markdown
    from eth_assets.models.ml.classifier import METRICS
    from eth_assets.models.ml.era import markdown as era_markdown

    summary = run.cv.summary()
    importance = folder / "importance.csv"
    run.cv.importance.write_csv(importance)
    era_path = folder / "era.md"
    era_path.write_text(era_markdown(era) + "\n", encoding="utf-8")
    params: dict[str, Any] = {
        **config.model_dump(),
        **{f"final_{k}": v for k, v in run.model.params.items()},
        "features": ",".join(run.model.features),
        "label_rule": training["label_rule"][0],
        "calibration": f"{DESCRIPTIONS[run.calibration.method]}, on the out-of-fold "
        "probabilities, chosen by the lowest cross-fitted Brier score",
        "calibration_method": run.calibration.method,
        "threshold_rule": run.calibration.threshold_rule,
        "bands": ", ".join(f"{n} ≥ {b:.3f}" for n, b in run.calibration.bands),
        "era_matched": era.matched.statement,
        "era_features": ",".join(era.era_features) or "none",
    }
    bands = pl.DataFrame(run.calibration.bands, schema=["band", "from"], orient="row")
    by_feature = era.by_feature.head(25).with_columns(pl.col(pl.Float64).round(3))
    return ModelResult(
        experiment="illicit_classifier",
        run_name=f"catboost {config.grid} grid",
        as_of=fit["as_of"],
        source=fit["chain_source"],
        tables={
            "illicit_classifier_folds": run.cv.folds,
            "illicit_classifier_importance": run.cv.importance,
            "illicit_classifier_paper_table": run.paper_table,
            "illicit_classifier_era": era.by_feature,
        },
        params=params,
        metrics=classifier_metrics(run, era, rows),
        steps=classifier_steps(run),
        plots=plots,
        artifacts={"tables": [importance, era_path]},
        model=ModelFile(candidate, REGISTERED_MODEL, config.auc_floor, GATE_CHECK),
        row_count=rows,
        metadata={
            **{f"cv_{m}": float(summary[m]) for m in METRICS},
            "class_counts": dict(run.class_counts),
            "date_only_roc_auc": float(era.date_only["roc_auc"]),
            "margin_over_date_roc_auc": float(era.model["roc_auc"] - era.date_only["roc_auc"]),
            "era_features": ", ".join(era.era_features) or "none",
            "threshold": run.calibration.threshold,
            "brier_before": run.calibration.brier_before,
            "brier_after": run.calibration.brier_after,
            "calibration_method": run.calibration.method,
        },
        markdown={
            "cv": " · ".join(f"{m} {summary[m]:.4f} ± {summary[m + '_sd']:.4f}" for m in METRICS),
            "folds": markdown_table(run.cv.folds.select("fold", "rows", "illicit", *METRICS)),
            "paper_table": markdown_table(run.paper_table.select("folds", *METRICS)),
            "era": era_markdown(era),
            "era_by_feature": markdown_table(by_feature),
            "importance": markdown_table(run.cv.importance),
            "bands": markdown_table(bands),
            "calibration": calibration_markdown(run.calibration_report),
        },
    )


def compare(
    flagged: pl.DataFrame,
    training: pl.DataFrame,
    assigned: pl.DataFrame,
    fit: dict[str, str],
    config: ModelComparisonConfig,
    folder: Path,
) -> ModelResult:
    """The paper's baselines, LightGBM, XGBoost and CatBoost on the classifier's folds."""
    from eth_assets.models.ml.comparison import compare_models
    from eth_assets.models.ml.comparison import markdown as comparison_markdown

    frame, labels, folds = training_rows(flagged, training)
    profiles = frame.select("address").join(assigned, on="address", how="left")["profile_id"]
    params = {
        "depth": config.catboost_depth,
        "learning_rate": config.catboost_learning_rate,
        "iterations": config.catboost_iterations,
        "border_count": config.catboost_border_count,
    }
    comparison = compare_models(
        frame,
        labels,
        folds,
        model_rules(rules_of_fit(fit), config.store_dependent_features),
        params,
        config.seed,
        config.threads,
        profiles.to_numpy().astype(str),
        days=first_activity(training, frame),
    )
    table_md = comparison_markdown(comparison.table)
    path = folder / "comparison.md"
    path.write_text(table_md + "\n", encoding="utf-8")
    metrics: dict[str, float] = {}
    for row in comparison.table.iter_rows(named=True):
        key = row["model"].lower().replace(" ", "_").replace("-", "_")
        key = key.replace("(", "").replace(")", "").replace("+", "plus")
        for m in ("accuracy", "roc_auc", "f1", "fit_seconds", "era_matched_roc_auc"):
            metrics[f"{key}_{m}"] = row[m]
    best = comparison.table.sort("roc_auc", descending=True).row(0, named=True)
    return ModelResult(
        experiment="model_comparison",
        run_name=f"{len(comparison.table)} models",
        as_of=fit["as_of"],
        source=fit["chain_source"],
        tables={"model_comparison": comparison.table},
        params=config.model_dump(),
        metrics=metrics,
        tags={"era_matched": comparison.era_statement},
        artifacts={"tables": [path]},
        row_count=comparison.table.height,
        metadata={
            "best_by_roc_auc": best["model"],
            "era_matched": comparison.era_statement,
            "folds": int(np.max(folds)) + 1,
        },
        markdown={"comparison": table_md},
    )
