"""The type of illicit activity: a multiclass model naming the most likely kind of scam of an
address the classifier flags, learned from the label lists' categories
(eth_assets.models.ml.illicit_type).

CatBoost and matplotlib are imported inside the asset: every step process loads the whole code
location, and these libraries cost seconds to import.
"""

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    asset,
)
from pydantic import Field

from eth_assets.models.classifier_assets import training_set
from eth_assets.models.illicit_type_results import (
    ASSET,
    learn_illicit_types,
    read_label_lists,
)
from eth_assets.models.model_runs import (
    at_least,
    finish,
    read_fit,
    read_flagged_features,
    read_table,
)
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import DuckDBWarehouse

__all__ = ["ASSET"]


class IllicitTypeConfig(Config):
    """Minimum accounts per type, folds, seed and threads (CatBoost's parameters are fixed)."""

    min_examples: int = Field(30, description="A type with fewer accounts is too small to learn.")
    folds: int = Field(5, description="Stratified cross-validation folds over the types.")
    seed: int = Field(0, description="Seed of the folds and of CatBoost.")
    threads: int = Field(2, description="CatBoost threads.")

    check_counts = at_least(1, "min_examples", "threads")
    check_folds = at_least(2, "folds")


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
    with warehouse.connect(read_only=True) as con:
        flagged = read_flagged_features(con)
        training = read_table(con, "training_set", "training_set")
        fit = read_fit(con)
    label_lists = read_label_lists(lake.table_path("illicit_labels"))
    folder = models.folder(ASSET)
    result = learn_illicit_types(flagged, training, fit, label_lists, config, folder)
    return finish(context, result, warehouse, tracker)
