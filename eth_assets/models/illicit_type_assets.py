"""The type of illicit activity: a multiclass model naming the most likely kind of scam of an
address the classifier flags, learned from the label lists' categories
(eth_assets.models.ml.illicit_type).

CatBoost and matplotlib are imported inside the asset: every step process loads the whole code
location, and these libraries cost seconds to import.
"""

import numpy as np
import polars as pl
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from eth_assets.common.markdown import markdown_table
from eth_assets.models.classifier_assets import training_set
from eth_assets.models.dataset_rules import first_activity, model_rules, rules_of_fit, training_rows
from eth_assets.models.model_runs import (
    at_least,
    mlflow_metadata,
    plot_metadata,
    read_fit,
    read_flagged_features,
    read_table,
    replace_tables,
    run_tags,
)
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import DuckDBWarehouse

ASSET = "illicit_type_model"


class IllicitTypeConfig(Config):
    """Minimum accounts per type, folds, seed and threads (CatBoost's parameters are fixed)."""

    min_examples: int = Field(30, description="A type with fewer accounts is too small to learn.")
    folds: int = Field(5, description="Stratified cross-validation folds over the types.")
    seed: int = Field(0, description="Seed of the folds and of CatBoost.")
    threads: int = Field(2, description="CatBoost threads.")

    check_counts = at_least(1, "min_examples", "threads")
    check_folds = at_least(2, "folds")


def first_activity_days(training: pl.DataFrame, frame: pl.DataFrame) -> np.ndarray | None:
    """Each row's first activity (days since the epoch) for the date-only baseline, or None
    when the `training_set` table predates its `first_seen` column."""
    return first_activity(training, frame) if "first_seen" in training.columns else None


def _frame_md(frame: pl.DataFrame) -> MetadataValue:
    return MetadataValue.md(markdown_table(frame.with_columns(pl.col(pl.Float64).round(3))))


@asset(
    deps=[training_set],
    group_name="classifier",
    kinds={"catboost", "mlflow"},
    backfill_policy=BackfillPolicy.single_run(),
)
def illicit_type_model(
    context: AssetExecutionContext,
    config: IllicitTypeConfig,
    warehouse: DuckDBWarehouse,
    lake: ParquetLake,
    tracker: MlflowTracker,
    models: ModelStore,
) -> MaterializeResult:
    """The most likely type of illicit activity (phishing, trust trading, Ponzi, …) of the
    illicit training accounts, learned from the label lists' categories; measured per type."""
    from eth_assets.models.ml.illicit_type import LEFT_OUT, TYPES, TypeSettings, train_illicit_type
    from eth_assets.models.ml.illicit_type import markdown as type_markdown

    with warehouse.connect(read_only=True) as con:
        flagged = read_flagged_features(con)
        training = read_table(con, "training_set", "training_set")
        fit = read_fit(con)
    labels_path = lake.table_path("illicit_labels")
    if not labels_path.is_file():
        raise FileNotFoundError(
            f"no label lists at {labels_path}: materialize illicit_labels first"
        )
    frame, labels, _ = training_rows(flagged, training)
    illicit = frame.filter(pl.Series(labels == 1))
    settings = TypeSettings(config.min_examples, config.folds, config.seed, config.threads)
    run = train_illicit_type(
        illicit,
        pl.read_parquet(labels_path),
        # the classifier's features: the store-dependent ones left out as by default
        model_rules(rules_of_fit(fit), store_dependent=False),
        settings,
        first_activity_days(training, illicit),
        models.plot_path(ASSET, "confusion"),
    )
    folder = models.folder(ASSET)
    model_path = run.model.save(folder / "model.pkl")
    with warehouse.connect() as con:
        replace_tables(
            con,
            {
                "illicit_type_folds": run.folds,
                "illicit_type_metrics": run.per_type,
                "illicit_type_confusion": run.confusion,
            },
        )
    summary = type_markdown(run)
    too_small = pl.DataFrame(
        {"type": list(run.too_small), "accounts": list(run.too_small.values())},
        schema={"type": pl.Utf8, "accounts": pl.Int64},
    )
    left_out = pl.DataFrame(
        {
            "reason": [LEFT_OUT[k] for k in run.left_out()],
            "accounts": list(run.left_out().values()),
        }
    )
    plots = {"confusion": run.plot} if run.plot else {}
    tags = run_tags(context, fit["as_of"], fit["chain_source"])
    name = f"{len(run.learned)} types" if run.learned else "no model"
    with tracker.start_run(ASSET, name, tags) as tracked:
        tracked.log_params(
            {
                **config.model_dump(),
                **{f"catboost_{k}": v for k, v in settings.params.items()},
                "types": ",".join(run.learned) or "none",
                "too_small": ",".join(f"{t}:{n}" for t, n in run.too_small.items()) or "none",
                "precedence": " > ".join(TYPES),
                **{f"left_out_{k}": v for k, v in run.left_out().items()},
                "why_no_model": run.model.why_not or "",
            }
        )
        tracked.log_metrics(run.metrics())
        for path in plots.values():
            tracked.log_artifact(path, "plots")
        for table, rows in (("confusion", run.confusion), ("per_type", run.per_type)):
            path = folder / f"{table}.csv"
            rows.write_csv(path)
            tracked.log_artifact(path, "tables")
        summary_path = folder / "summary.md"
        summary_path.write_text(summary + "\n", encoding="utf-8")
        tracked.log_artifact(summary_path, "tables")
        tracked.log_artifact(model_path, "model")
    metrics = run.metrics()
    return MaterializeResult(
        metadata={
            "dagster/row_count": run.model.trained_rows,
            "type_macro_f1": MetadataValue.float(metrics.get("type_macro_f1", float("nan"))),
            "type_accuracy": MetadataValue.float(metrics.get("type_accuracy", float("nan"))),
            "type_majority_accuracy": MetadataValue.float(
                metrics.get("type_majority_accuracy", float("nan"))
            ),
            "per_type": _frame_md(run.per_type),
            "baselines": _frame_md(run.baselines),
            "too_small_to_learn": MetadataValue.md(markdown_table(too_small)),
            "left_out": MetadataValue.md(markdown_table(left_out)),
            "categories": MetadataValue.md(markdown_table(run.types.by_category.head(40))),
            "confusion": MetadataValue.md(markdown_table(run.confusion)),
            "model": MetadataValue.path(str(model_path)),
            "no_model": MetadataValue.text(run.model.why_not or "a model was learned"),
            **plot_metadata(plots),
            **mlflow_metadata(tracked),
        }
    )
