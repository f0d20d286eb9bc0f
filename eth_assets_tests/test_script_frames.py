"""The scripts' and benchmarks' frame builder (scripts/sample_frames.py) gives what the assets
give: the features of a small sample folder equal address_features and behaviour_features
materialized from the same folder, and the profile and fold settings are the assets' defaults."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import duckdb
import numpy as np
import polars as pl
from dagster import materialize
from polars.testing import assert_frame_equal

from eth_assets.features.feature_assets import address_features, address_universe
from eth_assets.labels.label_assets import illicit_labels
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets_tests.fixtures.raw_tables import ALICE, BOB, CONTRACT

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2020-01-04"


def load_sample_frames() -> ModuleType:
    """scripts/sample_frames.py, imported as the scripts import it (from their folder)."""
    spec = importlib.util.spec_from_file_location(
        "sample_frames", ROOT / "scripts" / "sample_frames.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sample_frames", module)
    spec.loader.exec_module(module)
    return module


def test_script_features_equal_the_assets_features(make_resources, tmp_path: Path) -> None:
    resources = make_resources()
    folder = Path(resources["chain_source"].folder)
    accounts = folder / "accounts.csv"
    pl.DataFrame({"address": [ALICE, BOB, CONTRACT], "in_subset": ["true"] * 3}).write_csv(accounts)
    labels = tmp_path / "labels.csv"
    pl.DataFrame({"address": [BOB]}).write_csv(labels)
    result = materialize(
        [raw_transactions, raw_token_transfers, illicit_labels, address_universe, address_features],
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": "2020-01-01",
            "dagster/asset_partition_range_end": "2020-01-10",
        },
        run_config={
            "ops": {
                "illicit_labels": {"config": {"files": [str(labels)]}},
                "address_universe": {"config": {"address_file": str(accounts), "as_of": AS_OF}},
            }
        },
    )
    assert result.success
    with duckdb.connect(str(resources["warehouse"].path), read_only=True) as con:
        assets = con.sql(
            "SELECT * FROM address_features JOIN behaviour_features USING (address) "
            "ORDER BY address"
        ).pl()
    script = load_sample_frames().sample_feature_frame(
        folder, datetime.fromisoformat(AS_OF).replace(tzinfo=UTC)
    )
    assert script["address"].to_list() == sorted([ALICE, BOB, CONTRACT])
    assert_frame_equal(script.select(assets.columns), assets, check_dtypes=False)
    assert script.filter(pl.col("address") == ALICE)["has_activity"].item()


def test_script_settings_are_the_assets_defaults() -> None:
    from eth_assets.models.classifier_assets import TrainingSetConfig
    from eth_assets.models.ml.calibration import stratified_folds
    from eth_assets.models.profile_assets import InvestorProfilesConfig

    frames = load_sample_frames()
    profiles = frames.profile_arguments()
    defaults = InvestorProfilesConfig()
    assert profiles["ks"] == range(defaults.k_min, defaults.k_max + 1)
    assert profiles["min_k"] == defaults.min_profiles
    assert profiles["min_cluster_share"] == defaults.min_cluster_share
    assert profiles["use_feature_set"] == defaults.use_feature_set
    assert frames.profile_arguments(k_max=5)["ks"] == range(defaults.k_min, 6)
    y = np.array([0, 1] * 20)
    config = TrainingSetConfig()
    assert np.array_equal(frames.default_folds(y), stratified_folds(y, config.folds, config.seed))
    assert len(set(frames.default_folds(y))) == config.folds
