"""The code location loads, shows the expected assets and groups, and picks sources from env."""

from __future__ import annotations

import subprocess
import sys

import pytest
from dagster import Definitions

from eth_assets.resources import chain_source_from_env
from eth_assets.resources.bigquery_source import BigQueryChainSource
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets.resources.simulated_source import SimulatedChainSource


def test_definitions_load() -> None:
    from eth_assets.definitions import defs

    Definitions.validate_loadable(defs)


def test_asset_keys_and_groups() -> None:
    from eth_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "raw_transactions": "raw",
        "raw_token_transfers": "raw",
        "illicit_labels": "labels",
        "address_universe": "features",
        "feature_state": "features",
        "address_features": "features",
        "address_exposure": "features",
        "clean_features": "datasets",
        "elbow_analysis": "analysis",
        "tsne_embedding": "analysis",
        "investor_profiles": "profiles",
        "training_set": "classifier",
        "illicit_classifier": "classifier",
        "illicit_type_model": "classifier",
        "era_matched_evaluation": "classifier",
        "out_of_time_evaluation": "classifier",
        "model_comparison": "classifier",
        "address_scores": "scores",
        "published_benchmark": "benchmarks",
    }


def test_every_asset_has_a_description_and_single_run_backfills() -> None:
    from eth_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.backfill_policy is not None, key


def test_nightly_schedule_targets_the_refresh_job() -> None:
    from eth_assets.definitions import defs

    schedule = defs.resolve_schedule_def("nightly_refresh")
    assert schedule.cron_schedule == "15 2 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "refresh"


def test_jobs_schedules_and_sensors() -> None:
    from eth_assets.definitions import defs

    jobs = {job.name for job in defs.resolve_all_job_defs()} - {"__ASSET_JOB"}
    assert jobs == {"refresh", "full_refresh", "label_refresh", "compact_lake"}
    repository = defs.get_repository_def()
    assert [s.name for s in repository.schedule_defs] == ["nightly_refresh"]
    sensors = {s.name: s.job_name for s in repository.sensor_defs}
    assert sensors == {"label_files_changed": "label_refresh"}


def test_source_is_chosen_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETH_ASSETS_SOURCE", raising=False)
    assert isinstance(chain_source_from_env(), SimulatedChainSource)
    monkeypatch.setenv("ETH_ASSETS_SIM_DAYS", "7")
    assert chain_source_from_env().days == 7
    monkeypatch.setenv("ETH_ASSETS_SOURCE", "parquet")
    assert isinstance(chain_source_from_env(), ParquetChainSource)
    monkeypatch.setenv("ETH_ASSETS_SOURCE", "bigquery")
    monkeypatch.setenv("ETH_ASSETS_BQ_MAX_BYTES_BILLED", "1000")
    source = chain_source_from_env()
    assert isinstance(source, BigQueryChainSource)
    assert source.maximum_bytes_billed == 1000
    monkeypatch.setenv("ETH_ASSETS_SOURCE", "ftp")
    with pytest.raises(ValueError, match="'ftp' is not a chain source; choose one of: simulated"):
        chain_source_from_env()


def test_lake_compaction_threshold_is_chosen_by_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from eth_assets.resources import lake_from_env
    from eth_assets.settings import LAKE_COMPACT_ENV

    monkeypatch.delenv(LAKE_COMPACT_ENV, raising=False)
    assert lake_from_env().compact_below_mib == 128
    monkeypatch.setenv(LAKE_COMPACT_ENV, "0")
    assert lake_from_env().compact_below_mib == 0
    monkeypatch.setenv(LAKE_COMPACT_ENV, "lots")
    with pytest.raises(ValueError, match="'lots' is not a whole number of MiB"):
        lake_from_env()
    monkeypatch.setenv(LAKE_COMPACT_ENV, "-5")
    with pytest.raises(ValueError, match="negative"):
        lake_from_env()


PLAIN_MODULES = (
    "eth_assets.features.feature_tables",
    "eth_assets.features.farrugia",
    "eth_assets.features.universe",
    "eth_assets.chain.source_columns",
)


def test_plain_modules_do_not_import_dagster() -> None:
    """The functions behind the assets run (and are benchmarked) without Dagster loaded."""
    code = (
        f"import sys; import {', '.join(PLAIN_MODULES)}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('dagster')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
