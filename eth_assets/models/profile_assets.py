"""Investor profiles: every address in a named behavioural group, tracked in MLflow."""

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    asset,
)
from pydantic import Field

from eth_assets.models.dataset_assets import clean_features
from eth_assets.models.ml.profile_features import FEATURE_SETS
from eth_assets.models.model_runs import finish, read_fit, read_table
from eth_assets.models.profile_results import (
    CHOICE_RULE,
    COVER_CHECK,
    SILHOUETTE_CHECK,
    build_investor_profiles,
)
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import DuckDBWarehouse

__all__ = ["CHOICE_RULE", "COVER_CHECK", "SILHOUETTE_CHECK"]


class InvestorProfilesConfig(Config):
    """Feature sets, k range and the rules that keep profiles honest."""

    feature_sets: list[str] = Field(
        ["app", "behaviour"], description=f"Feature sets compared: {sorted(FEATURE_SETS)}."
    )
    use_feature_set: str = Field("behaviour", description="The feature set profiles come from.")
    k_min: int = Field(2, description="Smallest number of clusters tried.")
    k_max: int = Field(8, description="Largest number of clusters tried.")
    min_profiles: int = Field(3, description="The chosen clustering has at least this many.")
    min_cluster_share: float = Field(
        0.02, description="Every profile holds at least this share of all addresses."
    )
    silhouette_floor: float = Field(
        0.25, description="Warn when the chosen clustering's silhouette is below this."
    )
    seed: int = Field(0, description="Seed of every clustering and sample.")
    silhouette_sample: int = Field(2000, description="Silhouette on a sample above this size.")
    kmeans_starts: int = Field(4, description="K-means keeps the best of this many starts.")
    entity_labels_file: str = Field(
        "", description="Etherscan label-cloud JSON; empty: the ETH_ASSETS_ENTITY_LABELS setting."
    )


@asset(
    deps=[clean_features],
    group_name="profiles",
    kinds={"scikitlearn", "mlflow"},
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=[
        AssetCheckSpec(
            COVER_CHECK,
            asset="investor_profiles",
            description="Every cleaned address has exactly one profile and no behavioural "
            "profile holds fewer than min_cluster_share of the addresses.",
        ),
        AssetCheckSpec(
            SILHOUETTE_CHECK,
            asset="investor_profiles",
            description="The chosen clustering's silhouette is at least silhouette_floor "
            "(a warning: profiles are descriptive and nothing is promoted on them).",
        ),
    ],
)
def investor_profiles(
    context: AssetExecutionContext,
    config: InvestorProfilesConfig,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker,
    models: ModelStore,
) -> MaterializeResult:
    """Named behavioural profiles (K-means / GMM / Ward over k), one per address."""
    with warehouse.connect(read_only=True) as con:
        cleaned = read_table(con, "clean_features", "clean_features")
        raw = read_table(con, "address_features", "address_features")
        fit = read_fit(con)
    folder = models.folder("investor_profiles")
    result = build_investor_profiles(cleaned, raw, fit, config, folder)
    return finish(context, result, warehouse, tracker)
