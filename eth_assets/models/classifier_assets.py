"""The illicit-account classifier: training set, CatBoost with CV, the registry's champion, and
the model comparison on the same folds.

CatBoost, scikit-learn, LightGBM, XGBoost and matplotlib are imported inside the assets: every
step process loads the whole code location, and these libraries cost seconds to import.
"""

from pathlib import Path

import numpy as np
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field, field_validator, model_validator

from eth_assets.common.markdown import markdown_table
from eth_assets.features.feature_tables import ACTIVITY_TABLE, read_provenance
from eth_assets.models.champion import GateDecision, decide_champion
from eth_assets.models.dataset_assets import clean_features
from eth_assets.models.dataset_rules import (
    first_activity,
    model_rules,
    read_label_file,
    rules_of_fit,
    training_labels,
    training_rows,
)
from eth_assets.models.model_runs import (
    CANDIDATE_FILE,
    at_least,
    fold_counts,
    fraction,
    keep_model_file,
    mlflow_metadata,
    plot_metadata,
    read_fit,
    read_flagged_features,
    read_table,
    replace_tables,
    run_tags,
)
from eth_assets.models.profile_assets import investor_profiles
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.tracking import CHAMPION, MlflowTracker
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse

__all__ = ["GateDecision", "decide_champion"]  # the champion rule, moved to models.champion

REGISTERED_MODEL = "eth_assets.illicit_classifier"
GATE_CHECK = "illicit_classifier_champion_gate"
# The classifier is the longest path to the scores: when steps wait for a free slot of the
# executor, its steps go first.
FIRST = {"dagster/priority": "1"}


class TrainingSetConfig(Config):
    """Which addresses are labelled illicit or normal, and which of them train the model."""

    label_file: str = Field(
        "",
        description="CSV/Parquet with `address` and `label_column`. Empty: the chain source's "
        "address file (the real sample's accounts.csv), if it has that column.",
    )
    label_column: str = Field("farrugia_flag", description="Column of the label file.")
    illicit_values: list[str] = Field(["1"], description="Values of label_column for illicit.")
    normal_values: list[str] = Field(["0"], description="Values of label_column for normal.")
    include_inactive: bool = Field(
        False,
        description="Train on accounts without any transaction or token transfer before as_of "
        "too (list artefacts: the model then learns 'empty → illicit').",
    )
    folds: int = Field(10, description="Stratified cross-validation folds (k).")
    seed: int = Field(0, description="Seed of the fold assignment.")

    check_folds = at_least(2, "folds")

    @model_validator(mode="after")
    def check_label_values(self) -> "TrainingSetConfig":
        """Both classes have values, and no value is both."""
        for name in ("illicit_values", "normal_values"):
            if not getattr(self, name):
                raise ValueError(f"{name}=[]: give one or more values of {self.label_column}")
        both = set(self.illicit_values) & set(self.normal_values)
        if both:
            raise ValueError(
                f"illicit_values and normal_values share {sorted(both)}: a value is one class"
            )
        return self


@asset(
    deps=[clean_features],
    group_name="classifier",
    kinds={"duckdb"},
    tags=WAREHOUSE_TAG,
    op_tags=FIRST,
    backfill_policy=BackfillPolicy.single_run(),
)
def training_set(
    config: TrainingSetConfig, chain_source: ChainSource, warehouse: DuckDBWarehouse
) -> MaterializeResult:
    """Labelled addresses with their fold: who trains and tests the classifier, and who not."""
    from eth_assets.models.ml.classifier import stratified_folds

    with warehouse.connect(read_only=True) as con:
        cleaned = read_table(con, "clean_features", "clean_features")
        activity = read_table(con, ACTIVITY_TABLE, "address_features")
    listed = chain_source.default_address_file()
    path = Path(config.label_file) if config.label_file else (Path(listed[0]) if listed else None)
    label_file = read_label_file(path) if path else None
    labels = training_labels(
        cleaned.select("address", "is_labelled_illicit"),
        label_file,
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
    with warehouse.connect() as con:
        replace_tables(con, {"training_set": table})
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
    return MaterializeResult(
        metadata={
            "dagster/row_count": table.height,
            "label_rule": labels.rule,
            "label_file": str(path) if path else "none",
            "class_counts": MetadataValue.md(markdown_table(counts)),
            "left_out": MetadataValue.md(markdown_table(left_out)),
            "training_rows": training.height,
            "folds": config.folds,
        }
    )


class IllicitClassifierConfig(Config):
    """Grid, seed, threads, calibration bands and the champion gate."""

    grid: str = Field("small", description="CatBoost grid: `small` or the paper's, `paper`.")
    seed: int = Field(0, description="Seed of CatBoost and the inner validation split.")
    threads: int = Field(2, description="CatBoost threads.")
    validation_share: float = Field(0.2, description="Inner validation share for the grid.")
    paper_table_folds: list[int] = Field([3, 4, 5, 10], description="k of the paper's table.")
    medium_from: float = Field(0.25, description="Calibrated probability where 'medium' starts.")
    critical_from: float = Field(0.9, description="Calibrated probability where 'critical' starts.")
    auc_floor: float = Field(0.8, description="The champion needs at least this CV ROC-AUC.")
    store_dependent_features: bool = Field(
        False,
        description="Train on the features whose value depends on which other accounts the "
        "store holds (the counterparties' activity); off by default: measured, they add "
        "nothing beyond the era (docs/classifier.md#era).",
    )

    check_threads = at_least(1, "threads")
    check_shares = fraction("validation_share", "medium_from")
    check_critical = fraction("critical_from", high_open=False)
    check_floor = fraction("auc_floor", low_open=False, high_open=False)
    check_paper_folds = fold_counts("paper_table_folds")

    @field_validator("grid")
    @classmethod
    def check_grid(cls, value: str) -> str:
        """A grid the classifier knows (the names of eth_assets.models.ml.classifier.GRIDS)."""
        from eth_assets.models.ml.classifier import GRIDS

        if value not in GRIDS:
            raise ValueError(f"grid={value!r}: must be one of {', '.join(map(repr, GRIDS))}")
        return value

    @model_validator(mode="after")
    def check_bands(self) -> "IllicitClassifierConfig":
        """'medium' starts below 'critical'."""
        if self.medium_from >= self.critical_from:
            raise ValueError(
                f"medium_from={self.medium_from} must be below critical_from={self.critical_from}"
            )
        return self


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


def _classifier_plots(run, frame, labels, models: ModelStore) -> dict[str, Path]:
    from eth_assets.models.ml.plots import logloss_plot, reliability_plot, shap_summary_plot

    model = run.model
    sample = frame.sample(min(frame.height, 2000), seed=0)
    shap = model.shap_values(sample)
    cleaned = model.cleaning.apply(sample, keep=())
    colour = cleaned.with_columns(pl.col(pl.Utf8).cast(pl.Categorical).to_physical())
    return {
        "shap_summary": shap_summary_plot(
            shap,
            colour.to_numpy().astype(float),
            model.features,
            models.plot_path("illicit_classifier", "shap_summary"),
        ),
        "logloss": logloss_plot(
            run.cv.train_logloss,
            run.cv.test_logloss,
            models.plot_path("illicit_classifier", "logloss"),
        ),
        "reliability": reliability_plot(
            labels,
            run.cv.out_of_fold,
            run.calibration_report.cross_fitted,
            models.plot_path("illicit_classifier", "reliability"),
        ),
    }


@asset(
    deps=[training_set],
    group_name="classifier",
    kinds={"catboost", "mlflow"},
    op_tags=FIRST,
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=[
        AssetCheckSpec(
            GATE_CHECK,
            asset="illicit_classifier",
            blocking=True,
            description="The new model's CV ROC-AUC is above the floor and at least the "
            "registered champion's; only then does the alias `champion` move to it.",
        )
    ],
)
def illicit_classifier(
    context: AssetExecutionContext,
    config: IllicitClassifierConfig,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker,
    models: ModelStore,
) -> MaterializeResult:
    """CatBoost, grid on inner validation, k-fold CV, calibrated, registered; champion gated."""
    from eth_assets.models.ml.calibration import DESCRIPTIONS
    from eth_assets.models.ml.calibration import markdown as calibration_markdown
    from eth_assets.models.ml.classifier import (
        GRIDS,
        METRICS,
        ClassifierSettings,
        train_illicit_classifier,
    )
    from eth_assets.models.ml.era import evaluate_era
    from eth_assets.models.ml.era import markdown as era_markdown

    # The registry is read now, before minutes of training: a store that cannot answer fails here.
    tracker.version(REGISTERED_MODEL, CHAMPION)
    with warehouse.connect(read_only=True) as con:
        flagged = read_flagged_features(con)
        training = read_table(con, "training_set", "training_set")
        fit = read_fit(con)
    frame, labels, folds = training_rows(flagged, training)
    check_folds_fit_classes(config.paper_table_folds, labels)
    settings = ClassifierSettings(
        grid=GRIDS[config.grid],
        folds=int(folds.max()) + 1,
        seed=config.seed,
        threads=config.threads,
        validation_share=config.validation_share,
    )
    with warehouse.connect(read_only=True) as con:
        kind = read_provenance(con).get("store_kind", "")
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
        kind,
    )
    era = evaluate_era(
        labels,
        run.cv.out_of_fold,
        first_activity(training, frame),
        folds,
        run.model.cleaning.impute(frame, list(run.model.cleaning.numeric_features)).to_numpy(),
        list(run.model.cleaning.numeric_features),
        config.seed,
    )
    summary = run.cv.summary()
    folder = models.folder("illicit_classifier")
    candidate = run.model.save(folder / CANDIDATE_FILE)
    plots = _classifier_plots(run, frame, labels, models)
    with warehouse.connect() as con:
        replace_tables(
            con,
            {
                "illicit_classifier_folds": run.cv.folds,
                "illicit_classifier_importance": run.cv.importance,
                "illicit_classifier_paper_table": run.paper_table,
                "illicit_classifier_era": era.by_feature,
            },
        )
    gate = decide_champion(
        summary["roc_auc"], config.auc_floor, tracker.version(REGISTERED_MODEL, CHAMPION)
    )
    metrics = {f"cv_{k}": v for k, v in summary.items()}
    metrics |= {
        "brier_before_calibration": run.calibration.brier_before,
        "brier_after_calibration": run.calibration.brier_after,
        "threshold": run.calibration.threshold,
        "training_rows": float(frame.height),
        "illicit": float(run.class_counts["illicit"]),
        "normal": float(run.class_counts["normal"]),
        "cv_seconds": run.cv.seconds,
        **run.calibration_report.metrics(),
        **era.metrics(),
    }
    for row in run.paper_table.iter_rows(named=True):
        metrics |= {f"cv{row['folds']}_{m}": row[m] for m in METRICS}
    tags = run_tags(context, fit["as_of"], fit["chain_source"])
    with tracker.start_run("illicit_classifier", f"catboost {config.grid} grid", tags) as tracked:
        tracked.log_params(
            {
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
        )
        tracked.log_metrics(metrics)
        for row in run.cv.folds.iter_rows(named=True):
            tracked.log_metrics({f"fold_{m}": row[m] for m in METRICS}, step=row["fold"])
        for step, (train, test) in enumerate(
            zip(run.cv.train_logloss, run.cv.test_logloss, strict=True)
        ):
            if step % 10 == 0:
                tracked.log_metrics({"logloss_train": train, "logloss_test": test}, step=step)
        for path in plots.values():
            tracked.log_artifact(path, "plots")
        importance = folder / "importance.csv"
        run.cv.importance.write_csv(importance)
        tracked.log_artifact(importance, "tables")
        era_path = folder / "era.md"
        era_path.write_text(era_markdown(era) + "\n", encoding="utf-8")
        tracked.log_artifact(era_path, "tables")
        version = tracker.log_model(tracked, candidate, REGISTERED_MODEL)
        decision = (
            f"version {version} becomes champion"
            if gate.passed
            else f"version {version} stays a candidate: {gate.reason}"
        )
        tracked.set_tags({"champion_decision": decision, "registered_version": version})
    if gate.passed:
        tracker.set_alias(REGISTERED_MODEL, CHAMPION, version)
    model_path = keep_model_file(candidate, gate.passed, version)
    table = run.cv.folds.select("fold", "rows", "illicit", *METRICS)
    headline = {f"cv_{m}": MetadataValue.float(summary[m]) for m in METRICS}
    return MaterializeResult(
        check_results=[
            AssetCheckResult(
                check_name=GATE_CHECK,
                passed=gate.passed,
                metadata={
                    "cv_roc_auc": summary["roc_auc"],
                    "champion_cv_roc_auc": (
                        gate.champion_auc if gate.champion_auc is not None else -1.0
                    ),
                    "floor": config.auc_floor,
                    "decision": decision,
                },
            )
        ],
        metadata={
            "dagster/row_count": frame.height,
            **headline,
            "cv": MetadataValue.md(
                " · ".join(f"{m} {summary[m]:.4f} ± {summary[m + '_sd']:.4f}" for m in METRICS)
            ),
            "class_counts": MetadataValue.json(run.class_counts),
            "folds": MetadataValue.md(markdown_table(table)),
            "paper_table": MetadataValue.md(
                markdown_table(run.paper_table.select("folds", *METRICS))
            ),
            "era": MetadataValue.md(era_markdown(era)),
            "date_only_roc_auc": MetadataValue.float(era.date_only["roc_auc"]),
            "margin_over_date_roc_auc": MetadataValue.float(
                era.model["roc_auc"] - era.date_only["roc_auc"]
            ),
            "era_features": MetadataValue.text(", ".join(era.era_features) or "none"),
            "era_by_feature": MetadataValue.md(
                markdown_table(era.by_feature.head(25).with_columns(pl.col(pl.Float64).round(3)))
            ),
            "importance": MetadataValue.md(markdown_table(run.cv.importance)),
            "threshold": run.calibration.threshold,
            "bands": MetadataValue.md(
                markdown_table(
                    pl.DataFrame(run.calibration.bands, schema=["band", "from"], orient="row")
                )
            ),
            "brier_before": run.calibration.brier_before,
            "brier_after": run.calibration.brier_after,
            "calibration_method": run.calibration.method,
            "calibration": MetadataValue.md(calibration_markdown(run.calibration_report)),
            "registered_version": version,
            "champion_decision": decision,
            "model": MetadataValue.path(str(model_path)),
            "model_file": MetadataValue.text(
                f"{model_path.name} replaces the local model (model: local)"
                if gate.passed
                else f"kept as {model_path.relative_to(folder)}: the local model.pkl is unchanged"
            ),
            **plot_metadata(plots),
            **mlflow_metadata(tracked),
        },
    )


class ModelComparisonConfig(Config):
    """CatBoost's parameters in the comparison, seed and threads."""

    catboost_depth: int = Field(6, description="CatBoost depth.")
    catboost_learning_rate: float = Field(0.15, description="CatBoost learning rate.")
    catboost_iterations: int = Field(200, description="CatBoost iterations.")
    catboost_border_count: int = Field(128, description="CatBoost border count.")
    seed: int = Field(0, description="Seed of every model.")
    threads: int = Field(2, description="Threads of the models that use several.")
    store_dependent_features: bool = Field(
        False, description="As illicit_classifier's: the features every model trains on."
    )

    check_counts = at_least(1, "catboost_iterations", "catboost_border_count", "threads")

    @field_validator("catboost_depth")
    @classmethod
    def check_depth(cls, value: int) -> int:
        """CatBoost's depth: 1 to 16."""
        if not 1 <= value <= 16:
            raise ValueError(f"catboost_depth={value}: must be from 1 to 16")
        return value

    @field_validator("catboost_learning_rate")
    @classmethod
    def check_learning_rate(cls, value: float) -> float:
        """A positive learning rate."""
        if not value > 0:
            raise ValueError(f"catboost_learning_rate={value}: must be above 0")
        return value


@asset(
    deps=[training_set, investor_profiles],
    group_name="classifier",
    kinds={"scikitlearn", "mlflow"},
    backfill_policy=BackfillPolicy.single_run(),
)
def model_comparison(
    context: AssetExecutionContext,
    config: ModelComparisonConfig,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker,
    models: ModelStore,
) -> MaterializeResult:
    """The paper's baselines, LightGBM, XGBoost and CatBoost on the classifier's folds (fixed
    parameters, so it runs beside illicit_classifier rather than after it)."""
    from eth_assets.models.ml.comparison import compare_models
    from eth_assets.models.ml.comparison import markdown as comparison_markdown

    with warehouse.connect(read_only=True) as con:
        flagged = read_flagged_features(con)
        training = read_table(con, "training_set", "training_set")
        assigned = read_table(con, "investor_profile_assignments", "investor_profiles")
        fit = read_fit(con)
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
    with warehouse.connect() as con:
        replace_tables(con, {"model_comparison": comparison.table})
    path = models.folder("model_comparison") / "comparison.md"
    path.write_text(table_md + "\n", encoding="utf-8")
    tags = run_tags(context, fit["as_of"], fit["chain_source"])
    with tracker.start_run("model_comparison", f"{len(comparison.table)} models", tags) as run:
        run.log_params(config.model_dump())
        for row in comparison.table.iter_rows(named=True):
            key = row["model"].lower().replace(" ", "_").replace("-", "_")
            key = key.replace("(", "").replace(")", "")
            key = key.replace("+", "plus")
            run.log_metrics(
                {
                    f"{key}_{m}": row[m]
                    for m in ("accuracy", "roc_auc", "f1", "fit_seconds", "era_matched_roc_auc")
                }
            )
        run.set_tags({"era_matched": comparison.era_statement})
        run.log_artifact(path, "tables")
    best = comparison.table.sort("roc_auc", descending=True).row(0, named=True)
    return MaterializeResult(
        metadata={
            "dagster/row_count": comparison.table.height,
            "comparison": MetadataValue.md(table_md),
            "best_by_roc_auc": best["model"],
            "era_matched": MetadataValue.text(comparison.era_statement),
            "folds": int(np.max(folds)) + 1,
            **mlflow_metadata(run),
        }
    )
