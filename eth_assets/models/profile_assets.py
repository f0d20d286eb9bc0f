"""Investor profiles: every address in a named behavioural group, tracked in MLflow."""

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
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

from eth_assets import settings
from eth_assets.common.markdown import markdown_table
from eth_assets.labels.entity_labels import read_entity_labels
from eth_assets.models.dataset_assets import clean_features
from eth_assets.models.dataset_rules import profile_inputs
from eth_assets.models.ml.cleaning import cleaning_from_json
from eth_assets.models.ml.profile_features import FEATURE_SETS, NO_ACTIVITY_ID
from eth_assets.models.model_runs import (
    mlflow_metadata,
    plot_metadata,
    read_fit,
    read_table,
    replace_tables,
    run_tags,
)
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import DuckDBWarehouse

if TYPE_CHECKING:
    from eth_assets.models.ml.profiles import Profiles

COVER_CHECK = "investor_profiles_cover_every_address"
SILHOUETTE_CHECK = "investor_profiles_silhouette_floor"
CHOICE_RULE = (
    "in the used feature set, the method and k with the highest silhouette among those whose "
    "every profile holds at least min_cluster_share of the addresses and k ≥ min_profiles"
)


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


def _entity_labels(configured: str) -> dict[str, list[str]]:
    path = Path(configured) if configured else settings.entity_labels_file()
    return read_entity_labels(path) if path else {}


def _plots(profiles: "Profiles", models: ModelStore, seed: int) -> dict[str, Path]:
    """Silhouette curves, profile sizes and a 2-D view of the profiles."""
    from eth_assets.models.ml.embedding import stratified_sample
    from eth_assets.models.ml.plots import embedding_plot, silhouette_plot, sizes_plot

    candidates = profiles.candidates.sort("k")
    series = {
        f"{s} / {m}": (group["k"].to_list(), group["silhouette"].to_list())
        for (s, m), group in candidates.group_by(["feature_set", "method"], maintain_order=True)
    }
    summary = profiles.summary
    names = profiles.assignments["profile_name"].to_numpy()
    shown = stratified_sample(names, 5000, seed)
    return {
        "silhouette": silhouette_plot(
            series, models.plot_path("investor_profiles", "silhouette"), "silhouette per k"
        ),
        "sizes": sizes_plot(
            summary["profile_name"].to_list(),
            summary["addresses"].to_list(),
            models.plot_path("investor_profiles", "sizes"),
            "addresses per profile",
        ),
        "profiles_2d": embedding_plot(
            profiles.points_2d[shown],
            [("first two principal components", names[shown].tolist())],
            models.plot_path("investor_profiles", "profiles_2d"),
            f"investor profiles ({profiles.chosen.method}, k = {profiles.chosen.k})",
            order=summary["profile_name"].to_list(),
        ),
    }


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
    from eth_assets.models.ml.profiles import build_profiles  # scikit-learn: seconds to import

    with warehouse.connect(read_only=True) as con:
        cleaned = read_table(con, "clean_features", "clean_features")
        raw = read_table(con, "address_features", "address_features")
        fit = read_fit(con)
    cleaning = cleaning_from_json(fit["cleaning"])
    features, active = profile_inputs(cleaned, raw, cleaning, config.feature_sets)
    profiles = build_profiles(
        features,
        active.to_numpy(),
        tuple(config.feature_sets),
        config.use_feature_set,
        range(config.k_min, config.k_max + 1),
        config.min_cluster_share,
        config.min_profiles,
        config.seed,
        fit["as_of"],
        config.silhouette_sample,
        _entity_labels(config.entity_labels_file),
        config.kmeans_starts,
    )
    chosen = profiles.chosen
    with warehouse.connect() as con:
        replace_tables(
            con,
            {
                "investor_profiles": profiles.summary,
                "investor_profile_assignments": profiles.assignments,
                "investor_profile_candidates": profiles.candidates,
            },
        )
    folder = models.folder("investor_profiles")
    model_path = profiles.model.save(folder / "model.pkl")
    summary_csv = folder / "profiles.csv"
    profiles.summary.write_csv(summary_csv)
    candidates_csv = folder / "candidates.csv"
    profiles.candidates.write_csv(candidates_csv)
    plots = _plots(profiles, models, config.seed)
    metrics = {
        "silhouette": chosen.silhouette,
        "silhouette_with_inactive": chosen.silhouette_with_inactive,
        "k": float(chosen.k),
        "smallest_share": chosen.smallest_share,
        "profiled_share": float(np.mean(profiles.assignments["profile_id"].to_numpy() > 0)),
    }
    tags = run_tags(context, fit["as_of"], fit["chain_source"])
    name = f"{config.use_feature_set} {chosen.method} k={chosen.k}"
    with tracker.start_run("investor_profiles", name, tags) as run:
        run.log_params(
            {
                **config.model_dump(),
                "rule": CHOICE_RULE,
                "chosen_method": chosen.method,
                "features": ",".join(profiles.model.columns),
                "transform": "winsorise 0.5/99.5 % → Yeo-Johnson → standard scaling → PCA",
                "addresses": profiles.assignments.height,
            }
        )
        run.log_metrics(metrics)
        run.log_metrics(
            {
                f"silhouette_{c['feature_set']}_{c['method']}_k{c['k']}": c["silhouette"]
                for c in profiles.candidates.iter_rows(named=True)
            }
        )
        run.log_metrics(
            {
                f"silhouette_with_inactive_{c['feature_set']}_{c['method']}_k{c['k']}": c[
                    "silhouette_with_inactive"
                ]
                for c in profiles.candidates.iter_rows(named=True)
            }
        )
        for path in plots.values():
            run.log_artifact(path, "plots")
        for path in (summary_csv, candidates_csv):
            run.log_artifact(path, "tables")
        run.log_artifact(model_path, "model")
    assigned = profiles.assignments["address"]
    active_sizes = profiles.summary.filter(pl.col("profile_id") != NO_ACTIVITY_ID)["addresses"]
    smallest = float(active_sizes.min() / assigned.len()) if active_sizes.len() else 0.0
    covered = AssetCheckResult(
        check_name=COVER_CHECK,
        passed=assigned.len() == cleaned.height == assigned.n_unique()
        and smallest >= config.min_cluster_share,
        metadata={
            "addresses": cleaned.height,
            "assigned": assigned.len(),
            "smallest_profile_share": smallest,
        },
    )
    silhouette = AssetCheckResult(
        check_name=SILHOUETTE_CHECK,
        passed=chosen.silhouette >= config.silhouette_floor,
        severity=AssetCheckSeverity.WARN,
        metadata={"silhouette": float(chosen.silhouette), "floor": config.silhouette_floor},
    )
    shown = profiles.summary.select(
        "profile_id", "profile_name", "addresses", "share", "sets_apart", "entity_kinds"
    )
    return MaterializeResult(
        check_results=[covered, silhouette],
        metadata={
            "dagster/row_count": profiles.assignments.height,
            **{key: MetadataValue.float(float(value)) for key, value in metrics.items()},
            "method": chosen.method,
            "feature_set": config.use_feature_set,
            "rule": CHOICE_RULE,
            "profiles": MetadataValue.md(markdown_table(shown)),
            "medians": MetadataValue.md(
                markdown_table(profiles.summary.drop("sets_apart", "entity_kinds"))
            ),
            "candidates": MetadataValue.md(markdown_table(profiles.candidates)),
            "model": MetadataValue.path(str(model_path)),
            **plot_metadata(plots),
            **mlflow_metadata(run),
        },
    )
