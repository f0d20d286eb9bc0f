"""The real sample's frames built the way the assets build them, for the scripts and benchmarks.

Features come from the asset's own `feature_tables_from_lake` over the sample folder read as a
lake; profiles and folds take every setting from the assets' `Config` defaults, so a default
changed in an asset changes the figures the scripts print, never silently diverges from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from eth_assets.chain.schemas import RAW_TABLES
from eth_assets.chain.source_columns import map_columns
from eth_assets.common.duckdb_utils import connect, sql_literal
from eth_assets.features.farrugia import register_sample_universe
from eth_assets.features.feature_tables import (
    ACTIVITY_TABLE,
    BEHAVIOUR_TABLE,
    feature_tables_from_lake,
)
from eth_assets.features.universe import UNIVERSE_TABLE
from eth_assets.models.classifier_assets import TrainingSetConfig
from eth_assets.models.dataset_assets import CleanFeaturesConfig
from eth_assets.models.dataset_rules import CleaningRules, cleaning_rules, with_flags
from eth_assets.models.ml.calibration import stratified_folds
from eth_assets.models.profile_assets import InvestorProfilesConfig
from eth_assets.settings import label_broadcast_tokens, market_gas_prices_file


class SampleFolder:
    """A folder of `transactions.parquet` and `token_transfers.parquet` (BigQuery columns, mapped
    as the Parquet source maps them) read where the assets read the lake."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._con = duckdb.connect()

    def relation_sql(self, table_name: str) -> str:
        """A DuckDB SELECT of the table's canonical columns over the folder's file."""
        raw = RAW_TABLES[table_name]
        relation = f"read_parquet({sql_literal(str(self.folder / f'{raw.name}.parquet'))})"
        described = self._con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        available = {row[0]: row[1] for row in described}
        expressions, _ = map_columns(raw, available, f"{raw.name} in {self.folder}")
        return f"SELECT {', '.join(expressions)} FROM {relation}"


def sample_feature_frame(
    raw_dir: Path, as_of: datetime, excluded: Sequence[str] | None = None
) -> pl.DataFrame:
    """address_features joined to behaviour_features, with `is_labelled_illicit` (false: the
    scripts label from accounts.csv), `has_activity` and `first_seen`, of the sample's
    `in_subset` accounts, computed by the asset's own function. `excluded` defaults to the
    configured label-broadcast tokens, as address_features leaves them out."""
    tokens = label_broadcast_tokens() if excluded is None else tuple(excluded)
    con = connect()
    register_sample_universe(con, raw_dir / "accounts.csv")
    con.execute(f"CREATE TABLE {UNIVERSE_TABLE} AS SELECT address FROM universe")
    feature_tables_from_lake(
        con, SampleFolder(raw_dir), as_of, tokens, market_gas=market_gas_prices_file()
    )
    features = con.sql("SELECT * FROM address_features").pl()
    behaviour = con.sql(f"SELECT * FROM {BEHAVIOUR_TABLE}").pl()
    activity = con.sql(f"SELECT address, first_seen FROM {ACTIVITY_TABLE}").pl()
    con.close()
    universe = features.select("address", is_labelled_illicit=pl.lit(False))
    flagged = with_flags(features, universe, behaviour)
    return flagged.join(activity, on="address", how="left").sort("address")


def default_folds(y: np.ndarray) -> np.ndarray:
    """The training set's default cross-validation folds (its `folds` and `seed`)."""
    config = TrainingSetConfig()
    return stratified_folds(y, config.folds, config.seed)


def profile_arguments(**overrides: object) -> dict[str, object]:
    """build_profiles' settings from investor_profiles' Config defaults (and `overrides`)."""
    config = InvestorProfilesConfig(**overrides)
    return {
        "feature_sets": tuple(config.feature_sets),
        "use_feature_set": config.use_feature_set,
        "ks": range(config.k_min, config.k_max + 1),
        "min_cluster_share": config.min_cluster_share,
        "min_k": config.min_profiles,
        "seed": config.seed,
        "silhouette_sample": config.silhouette_sample,
        "n_init": config.kmeans_starts,
    }


def default_cleaning_rules(as_of: datetime) -> CleaningRules:
    """clean_features' rules with its Config defaults, behaviour features included (the graph's
    default)."""
    config = CleanFeaturesConfig()
    return cleaning_rules(as_of, config.max_zero_share, config.min_level_count, behaviour=True)
