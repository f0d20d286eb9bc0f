"""The classifier on published feature files: the benchmark most papers report on, with the
files' known traps handled (eth_assets/features/reference_files.py), cross-validated by
eth_assets/features/reference_results.py."""

from pathlib import Path

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    asset,
)
from pydantic import Field

from eth_assets.features.reference_results import LEAK_CHECK, published_benchmark_result
from eth_assets.models.model_runs import finish
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse
from eth_assets.settings import shared_data_dir

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
    paths = [Path(f) for f in config.files] or [shared_data_dir() / f for f in DEFAULT_FILES]
    result = published_benchmark_result(
        paths, config.grid, config.folds, config.seed, config.leak_level, config.model_dump()
    )
    return finish(context, result, warehouse, tracker)
