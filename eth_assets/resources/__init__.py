"""Resources, built from eth_assets.settings so that no code changes between deployments."""

from __future__ import annotations

from dagster_gcp import BigQueryResource

from eth_assets import settings
from eth_assets.resources.bigquery_source import BigQueryChainSource
from eth_assets.resources.chain_sources import ChainSource, ParquetChainSource
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets.resources.simulated_source import SimulatedChainSource
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import DuckDBWarehouse


def simulated_source_from_env() -> SimulatedChainSource:
    """The simulated chain, sized by $ETH_ASSETS_SIM_* where set, else its defaults."""
    return SimulatedChainSource(**settings.simulated_chain_overrides())


def chain_source_from_env() -> ChainSource:
    """The chain source named by $ETH_ASSETS_SOURCE (default `simulated`: no data, no keys)."""
    kind = settings.chain_source_kind()
    if kind == "parquet":
        return ParquetChainSource(complete_histories=settings.parquet_complete_histories())
    if kind == "bigquery":
        return BigQueryChainSource(
            bigquery=BigQueryResource(project=settings.google_cloud_project()),
            dataset=settings.bigquery_dataset(),
            maximum_bytes_billed=settings.bigquery_max_bytes_billed(),
        )
    return simulated_source_from_env()


def lake_from_env() -> ParquetLake:
    """The lake; $ETH_ASSETS_LAKE_COMPACT_BELOW_MIB sets its compaction threshold (0 = off)."""
    mib = settings.lake_compact_below_mib()
    return ParquetLake() if mib is None else ParquetLake(compact_below_mib=mib)


def build_resources() -> dict[str, object]:
    """Every resource the assets use, keyed as the assets name them."""
    return {
        "chain_source": chain_source_from_env(),
        "lake": lake_from_env(),
        "warehouse": DuckDBWarehouse(),
        "tracker": MlflowTracker(),
        "models": ModelStore(),
    }
