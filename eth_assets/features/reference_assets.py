"""The classifier on published feature files: the benchmark most papers report on, with the
files' known traps handled (eth_assets/features/reference_files.py)."""

from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from eth_assets.common.markdown import markdown_table
from eth_assets.features.feature_tables import CATEGORICAL_COLUMNS, NUMERIC_FEATURE_COLUMNS
from eth_assets.features.reference_files import read_published_features
from eth_assets.models.ml.cleaning import CleaningRules
from eth_assets.models.model_runs import mlflow_metadata, replace_tables, run_tags
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse
from eth_assets.settings import shared_data_dir

LEAK_CHECK = "published_benchmark_below_leak_level"
DEFAULT_FILES = ("farrugia2020/Complete.csv", "ethereum_fraud_kaggle/transaction_dataset.csv")


class PublishedBenchmarkConfig(Config):
    """Which files, and the CV."""

    files: list[str] = Field(
        [],
        description="Published feature files (Farrugia's Complete.csv format, or the Kaggle "
        "file's). Empty: Complete.csv and the Kaggle file in $ETH_ASSETS_SHARED_DATA.",
    )
    grid: str = Field("small", description="CatBoost grid: `small` or `paper`.")
    folds: int = Field(10, description="Stratified CV folds.")
    seed: int = Field(0, description="Seed of the folds and CatBoost.")
    leak_level: float = Field(
        0.985, description="A CV accuracy above this is treated as a leak until explained."
    )


@asset(
    group_name="benchmarks",
    kinds={"catboost", "mlflow"},
    tags=WAREHOUSE_TAG,
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=[
        AssetCheckSpec(
            LEAK_CHECK,
            asset="published_benchmark",
            description="CV accuracy on every published file stays at or below the level where "
            "a result is a leak until explained (0.985 by default).",
        )
    ],
)
def published_benchmark(
    context: AssetExecutionContext,
    config: PublishedBenchmarkConfig,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker,
) -> MaterializeResult:
    """The cleaning and classifier of this project on published feature files, traps handled."""
    from eth_assets.models.ml.classifier import GRIDS, ClassifierSettings, cross_validate

    paths = [Path(f) for f in config.files] or [shared_data_dir() / f for f in DEFAULT_FILES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"published feature files not found: {missing}; give existing files in the "
            "`files` config or set ETH_ASSETS_SHARED_DATA"
        )
    settings = ClassifierSettings(grid=GRIDS[config.grid], folds=config.folds, seed=config.seed)
    rows, reports = [], []
    for path in paths:
        data = read_published_features(path)
        numeric = tuple(c for c in NUMERIC_FEATURE_COLUMNS if c in data.frame.columns)
        categorical = tuple(c for c in CATEGORICAL_COLUMNS if c in data.frame.columns)
        rules = CleaningRules(numeric, categorical, ("total_ether_balance",))
        cv = cross_validate(data.frame, data.labels, rules, settings)
        summary = cv.summary()
        rows.append(
            {
                "file": path.name,
                "normal": int((data.labels == 0).sum()),
                "illicit": int((data.labels == 1).sum()),
                **{m: summary[m] for m in ("accuracy", "accuracy_sd", "roc_auc", "roc_auc_sd")},
                "f1": summary["f1"],
                "seconds": cv.seconds,
                "top_features": ", ".join(cv.importance.head(5)["feature"].to_list()),
            }
        )
        reports += [{"file": path.name, "trap": t, "handled": h} for t, h in data.report]
    table = pl.DataFrame(rows)
    with warehouse.connect() as con:
        replace_tables(con, {"published_benchmark": table})
    worst = float(table["accuracy"].max())
    tags = run_tags(context, "published files", ", ".join(str(p) for p in paths))
    with tracker.start_run("published_benchmark", f"{len(paths)} files", tags) as run:
        run.log_params({**config.model_dump(), "files": ", ".join(str(p) for p in paths)})
        for row in rows:
            key = row["file"].split(".")[0].lower()
            run.log_metrics({f"{key}_{m}": row[m] for m in ("accuracy", "roc_auc", "f1")})
    return MaterializeResult(
        check_results=[
            AssetCheckResult(
                check_name=LEAK_CHECK,
                passed=worst <= config.leak_level,
                severity=AssetCheckSeverity.WARN,
                metadata={"highest_accuracy": worst, "leak_level": config.leak_level},
            )
        ],
        metadata={
            "dagster/row_count": table.height,
            "results": MetadataValue.md(markdown_table(table)),
            "traps_handled": MetadataValue.md(markdown_table(pl.DataFrame(reports))),
            **mlflow_metadata(run),
        },
    )
