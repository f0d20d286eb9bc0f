"""Investor profiles between reading the warehouse and finishing: the profiles built, saved,
drawn and checked, returned as a ModelResult for the finishing step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from eth_assets import settings
from eth_assets.common.markdown import markdown_table
from eth_assets.labels.entity_labels import read_entity_labels
from eth_assets.models.dataset_rules import profile_inputs
from eth_assets.models.ml.cleaning import cleaning_from_json
from eth_assets.models.ml.profile_features import NO_ACTIVITY_ID
from eth_assets.models.model_result import Check, ModelFile, ModelResult

if TYPE_CHECKING:
    from eth_assets.models.ml.profiles import Profiles
    from eth_assets.models.profile_assets import InvestorProfilesConfig

ASSET = "investor_profiles"
COVER_CHECK = "investor_profiles_cover_every_address"
SILHOUETTE_CHECK = "investor_profiles_silhouette_floor"
CHOICE_RULE = (
    "in the used feature set, the method and k with the highest silhouette among those whose "
    "every profile holds at least min_cluster_share of the addresses and k ≥ min_profiles"
)


def entity_labels(configured: str) -> dict[str, list[str]]:
    """The Etherscan label cloud of `configured`, else of the setting; none without either."""
    path = Path(configured) if configured else settings.entity_labels_file()
    return read_entity_labels(path) if path else {}


def profile_plots(profiles: Profiles, folder: Path, seed: int) -> dict[str, Path]:
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
        "silhouette": silhouette_plot(series, folder / "silhouette.png", "silhouette per k"),
        "sizes": sizes_plot(
            summary["profile_name"].to_list(),
            summary["addresses"].to_list(),
            folder / "sizes.png",
            "addresses per profile",
        ),
        "profiles_2d": embedding_plot(
            profiles.points_2d[shown],
            [("first two principal components", names[shown].tolist())],
            folder / "profiles_2d.png",
            f"investor profiles ({profiles.chosen.method}, k = {profiles.chosen.k})",
            order=summary["profile_name"].to_list(),
        ),
    }


def profile_checks(
    profiles: Profiles, addresses: int, config: InvestorProfilesConfig
) -> list[Check]:
    """Every address has one profile and none is too small; the silhouette floor (a warning)."""
    assigned = profiles.assignments["address"]
    active_sizes = profiles.summary.filter(pl.col("profile_id") != NO_ACTIVITY_ID)["addresses"]
    smallest = float(active_sizes.min() / assigned.len()) if active_sizes.len() else 0.0
    chosen = profiles.chosen
    return [
        Check(
            COVER_CHECK,
            assigned.len() == addresses == assigned.n_unique()
            and smallest >= config.min_cluster_share,
            {
                "addresses": addresses,
                "assigned": assigned.len(),
                "smallest_profile_share": smallest,
            },
        ),
        Check(
            SILHOUETTE_CHECK,
            chosen.silhouette >= config.silhouette_floor,
            {"silhouette": float(chosen.silhouette), "floor": config.silhouette_floor},
            warn=True,
        ),
    ]


def candidate_metrics(candidates: pl.DataFrame) -> dict[str, float]:
    """Each candidate clustering's silhouette, without and with the inactive addresses."""
    metrics = {}
    for c in candidates.iter_rows(named=True):
        name = f"{c['feature_set']}_{c['method']}_k{c['k']}"
        metrics[f"silhouette_{name}"] = c["silhouette"]
        metrics[f"silhouette_with_inactive_{name}"] = c["silhouette_with_inactive"]
    return metrics


def build_investor_profiles(
    cleaned: pl.DataFrame,
    raw: pl.DataFrame,
    fit: dict[str, str],
    config: InvestorProfilesConfig,
    folder: Path,
) -> ModelResult:
    """Named behavioural profiles (K-means / GMM / Ward over k), one per address, saved with
    their tables and plots in `folder`."""
    from eth_assets.models.ml.profiles import build_profiles  # scikit-learn: seconds to import

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
        entity_labels(config.entity_labels_file),
        config.kmeans_starts,
    )
    chosen = profiles.chosen
    model_path = profiles.model.save(folder / "model.pkl")
    summary_csv = folder / "profiles.csv"
    profiles.summary.write_csv(summary_csv)
    candidates_csv = folder / "candidates.csv"
    profiles.candidates.write_csv(candidates_csv)
    metrics = {
        "silhouette": float(chosen.silhouette),
        "silhouette_with_inactive": float(chosen.silhouette_with_inactive),
        "k": float(chosen.k),
        "smallest_share": float(chosen.smallest_share),
        "profiled_share": float(np.mean(profiles.assignments["profile_id"].to_numpy() > 0)),
    }
    shown = profiles.summary.select(
        "profile_id", "profile_name", "addresses", "share", "sets_apart", "entity_kinds"
    )
    return ModelResult(
        experiment=ASSET,
        run_name=f"{config.use_feature_set} {chosen.method} k={chosen.k}",
        as_of=fit["as_of"],
        source=fit["chain_source"],
        tables={
            "investor_profiles": profiles.summary,
            "investor_profile_assignments": profiles.assignments,
            "investor_profile_candidates": profiles.candidates,
        },
        params={
            **config.model_dump(),
            "rule": CHOICE_RULE,
            "chosen_method": chosen.method,
            "features": ",".join(profiles.model.columns),
            "transform": "winsorise 0.5/99.5 % → Yeo-Johnson → standard scaling → PCA",
            "addresses": profiles.assignments.height,
        },
        metrics=metrics | candidate_metrics(profiles.candidates),
        plots=profile_plots(profiles, folder, config.seed),
        artifacts={"tables": [summary_csv, candidates_csv]},
        model=ModelFile(model_path),
        row_count=profiles.assignments.height,
        metadata={
            **metrics,
            "method": chosen.method,
            "feature_set": config.use_feature_set,
            "rule": CHOICE_RULE,
        },
        markdown={
            "profiles": markdown_table(shown),
            "medians": markdown_table(profiles.summary.drop("sets_apart", "entity_kinds")),
            "candidates": markdown_table(profiles.candidates),
        },
        checks=profile_checks(profiles, cleaned.height, config),
    )
