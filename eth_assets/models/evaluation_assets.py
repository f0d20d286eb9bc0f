"""Evaluations on labelled accounts the classifier never trained on, run on demand (like
published_benchmark): xblock_2019, where the classes overlap in time, and an out-of-time folder
(phish_2022 by default) scored by the champion with no retraining. Each figure stands beside the
first-activity-date and size baselines (docs/classifier.md#era)."""

from pathlib import Path

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    asset,
)
from pydantic import Field, field_validator

from eth_assets.features.as_of import parse_as_of
from eth_assets.features.feature_provenance import read_provenance
from eth_assets.models.classifier_assets import REGISTERED_MODEL, illicit_classifier, training_set
from eth_assets.models.evaluation_results import (
    OUT_OF_TIME_CHECK,
    evaluate_era_matched,
    evaluate_out_of_time,
)
from eth_assets.models.evaluation_sets import folder_end, read_labelled_accounts
from eth_assets.models.model_runs import (
    at_least,
    finish,
    fraction,
    read_fit,
    read_flagged_features,
    read_table,
)
from eth_assets.resources.tracking import CHAMPION, MlflowTracker
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse
from eth_assets.settings import market_gas_prices_file, shared_data_dir

__all__ = ["OUT_OF_TIME_CHECK"]


class EraMatchedEvaluationConfig(Config):
    """The era-matched set and how to evaluate on it."""

    folder: str = Field(
        "", description="The xblock_2019 folder. Empty: $ETH_ASSETS_SHARED_DATA/xblock_2019."
    )
    folds: int = Field(5, description="Stratified CV folds within the set.")
    seed: int = Field(0, description="Seed of the folds and CatBoost.")
    threads: int = Field(2, description="CatBoost threads.")
    size_bands: int = Field(5, description="Bands of total ether received (pooled quantiles).")
    store_dependent_features: bool = Field(
        False, description="As illicit_classifier's: train with the store-dependent features."
    )

    check_counts = at_least(1, "threads", "size_bands")
    check_folds = at_least(2, "folds")


@asset(
    deps=[training_set],
    group_name="classifier",
    kinds={"catboost", "mlflow"},
    tags=WAREHOUSE_TAG,
    backfill_policy=BackfillPolicy.single_run(),
)
def era_matched_evaluation(
    context: AssetExecutionContext,
    config: EraMatchedEvaluationConfig,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker,
) -> MaterializeResult:
    """Behaviour or era, on xblock_2019: CV within the set and this data dir's model on its
    unseen accounts, on the features the set supports, beside date-only and size-only models."""
    from eth_assets.models.xblock import read_xblock, xblock_features

    folder = Path(config.folder) if config.folder else shared_data_dir() / "xblock_2019"
    xblock = xblock_features(read_xblock(folder))
    with warehouse.connect(read_only=True) as con:
        flagged = read_flagged_features(con)
        training = read_table(con, "training_set", "training_set")
        fit = read_fit(con)
    result = evaluate_era_matched(xblock, flagged, training, fit, folder, config)
    return finish(context, result, warehouse, tracker)


class OutOfTimeEvaluationConfig(Config):
    """The other folder, its labels, the cut-offs and the floor."""

    folder: str = Field(
        "",
        description="A Parquet folder (transactions, token_transfers, accounts.csv). Empty: "
        "$ETH_ASSETS_SHARED_DATA/phish_2022.",
    )
    label_column: str = Field("label", description="Column of accounts.csv: 1 illicit, 0 normal.")
    as_of: str = Field("", description="Features' cut-off. Empty: the end of the folder's data.")
    common_window_end: str = Field(
        "2019-04-25",
        description="Accounts first active before this day form the common window, where the "
        "classes overlap in time.",
    )
    complete_histories: bool = Field(
        False, description="The folder holds the full chain (else chosen accounts' histories)."
    )
    model: str = Field(CHAMPION, description="Registered version number or alias to score with.")
    auc_floor: float = Field(0.8, description="ROC-AUC on active accounts below this warns.")

    check_floor = fraction("auc_floor", low_open=False, high_open=False)

    @field_validator("model")
    @classmethod
    def check_model(cls, value: str) -> str:
        """A version number or an alias: not empty."""
        if not value.strip():
            raise ValueError("model='': must be a registered version number or an alias")
        return value.strip()


@asset(
    deps=[illicit_classifier, training_set],
    group_name="classifier",
    kinds={"catboost", "mlflow"},
    tags=WAREHOUSE_TAG,
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=[
        AssetCheckSpec(
            OUT_OF_TIME_CHECK,
            asset="out_of_time_evaluation",
            description="The model's ROC-AUC on the other folder's accounts with activity "
            "reaches the floor (0.8 by default).",
        )
    ],
)
def out_of_time_evaluation(
    context: AssetExecutionContext,
    config: OutOfTimeEvaluationConfig,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker,
) -> MaterializeResult:
    """The champion scores another folder's labelled accounts (phish_2022) with no retraining,
    through the pipeline's own feature SQL, beside the date-only and size-only baselines."""
    folder = Path(config.folder) if config.folder else shared_data_dir() / "phish_2022"
    accounts = read_labelled_accounts(folder / "accounts.csv", config.label_column)
    as_of = parse_as_of(config.as_of) if config.as_of else folder_end(folder)
    model, version = tracker.load_model(REGISTERED_MODEL, config.model)
    with warehouse.connect(read_only=True) as con:
        flagged = read_flagged_features(con)
        training = read_table(con, "training_set", "training_set")
        provenance = read_provenance(con)
    excluded = provenance.excluded_tokens if provenance else ()
    market_gas = None if config.complete_histories else market_gas_prices_file()
    result = evaluate_out_of_time(
        folder,
        accounts,
        as_of,
        model,
        version.version,
        flagged,
        training,
        (excluded, market_gas),
        config,
    )
    return finish(context, result, warehouse, tracker)
