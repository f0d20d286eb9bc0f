"""The illicit-account classifier: training set, CatBoost with CV, the registry's champion, and
the model comparison on the same folds.

CatBoost, scikit-learn, LightGBM, XGBoost and matplotlib are imported inside the assets: every
step process loads the whole code location, and these libraries cost seconds to import.
"""

from pathlib import Path

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    asset,
)
from pydantic import Field, field_validator, model_validator

from eth_assets.features.feature_provenance import read_provenance
from eth_assets.features.feature_tables import ACTIVITY_TABLE
from eth_assets.models.champion import GateDecision, decide_champion
from eth_assets.models.classifier_results import (
    GATE_CHECK,
    REGISTERED_MODEL,
    build_training_set,
    check_folds_fit_classes,
    compare,
    train_classifier,
)
from eth_assets.models.dataset_assets import clean_features
from eth_assets.models.model_runs import (
    at_least,
    finish,
    fold_counts,
    fraction,
    read_fit,
    read_flagged_features,
    read_table,
)
from eth_assets.models.profile_assets import investor_profiles
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.tracking import CHAMPION, MlflowTracker
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse

# Names other modules import from here; the work itself lives in classifier_results and champion.
__all__ = [
    "GATE_CHECK",
    "REGISTERED_MODEL",
    "GateDecision",
    "check_folds_fit_classes",
    "decide_champion",
]

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
    context: AssetExecutionContext,
    config: TrainingSetConfig,
    chain_source: ChainSource,
    warehouse: DuckDBWarehouse,
) -> MaterializeResult:
    """Labelled addresses with their fold: who trains and tests the classifier, and who not."""
    with warehouse.connect(read_only=True) as con:
        cleaned = read_table(con, "clean_features", "clean_features")
        activity = read_table(con, ACTIVITY_TABLE, "address_features")
    listed = chain_source.default_address_file()
    path = Path(config.label_file) if config.label_file else (Path(listed[0]) if listed else None)
    result = build_training_set(cleaned, activity, path, config)
    return finish(context, result, warehouse)


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
    # The registry is read now, before minutes of training: a store that cannot answer fails here.
    tracker.version(REGISTERED_MODEL, CHAMPION)
    with warehouse.connect(read_only=True) as con:
        flagged = read_flagged_features(con)
        training = read_table(con, "training_set", "training_set")
        fit = read_fit(con)
        provenance = read_provenance(con)
    folder = models.folder("illicit_classifier")
    kind = provenance.store_kind if provenance else ""
    result = train_classifier(flagged, training, fit, kind, config, folder)
    return finish(context, result, warehouse, tracker)


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
    with warehouse.connect(read_only=True) as con:
        flagged = read_flagged_features(con)
        training = read_table(con, "training_set", "training_set")
        assigned = read_table(con, "investor_profile_assignments", "investor_profiles")
        fit = read_fit(con)
    folder = models.folder("model_comparison")
    result = compare(flagged, training, assigned, fit, config, folder)
    return finish(context, result, warehouse, tracker)
