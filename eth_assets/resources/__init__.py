"""Resources, chosen from environment variables so no code changes between deployments."""

from __future__ import annotations

import os

from dagster_gcp import BigQueryResource

from eth_assets.resources.bigquery_source import BigQueryChainSource
from eth_assets.resources.chain_sources import ChainSource, ParquetChainSource
from eth_assets.resources.lake import ParquetLake
from eth_assets.resources.simulated_source import SimulatedChainSource
from eth_assets.resources.warehouse import DuckDBWarehouse
from eth_assets.settings import SOURCE_ENV

CHAIN_SOURCES = ("simulated", "parquet", "bigquery")
BQ_DATASET_ENV = "ETH_ASSETS_BQ_DATASET"
BQ_MAX_BYTES_ENV = "ETH_ASSETS_BQ_MAX_BYTES_BILLED"
LAKE_COMPACT_ENV = "ETH_ASSETS_LAKE_COMPACT_BELOW_MIB"


SIM_SETTINGS = {  # environment variable → SimulatedChainSource field
    "ETH_ASSETS_SIM_SEED": "seed",
    "ETH_ASSETS_SIM_ACCOUNTS": "n_accounts",
    "ETH_ASSETS_SIM_START": "start_date",
    "ETH_ASSETS_SIM_DAYS": "days",
}


def simulated_source_from_env() -> SimulatedChainSource:
    """The simulated chain, sized by $ETH_ASSETS_SIM_* where set, else its defaults."""
    settings = {field: os.environ[env] for env, field in SIM_SETTINGS.items() if env in os.environ}
    return SimulatedChainSource(**settings)


def chain_source_from_env() -> ChainSource:
    """The chain source named by $ETH_ASSETS_SOURCE (default `simulated`: no data, no keys)."""
    kind = os.environ.get(SOURCE_ENV, "simulated").strip().lower()
    if kind == "simulated":
        return simulated_source_from_env()
    if kind == "parquet":
        return ParquetChainSource()
    if kind == "bigquery":
        return BigQueryChainSource(
            bigquery=BigQueryResource(project=os.environ.get("GOOGLE_CLOUD_PROJECT")),
            dataset=os.environ.get(BQ_DATASET_ENV, "bigquery-public-data.crypto_ethereum"),
            maximum_bytes_billed=int(os.environ.get(BQ_MAX_BYTES_ENV, str(50 * 2**30))),
        )
    raise ValueError(
        f"{SOURCE_ENV}={kind!r} is not a chain source; choose one of: {', '.join(CHAIN_SOURCES)}"
    )


def lake_from_env() -> ParquetLake:
    """The lake; $ETH_ASSETS_LAKE_COMPACT_BELOW_MIB sets its compaction threshold (0 = off)."""
    text = os.environ.get(LAKE_COMPACT_ENV)
    if text is None:
        return ParquetLake()
    try:
        mib = int(text)
    except ValueError:
        raise ValueError(f"{LAKE_COMPACT_ENV}={text!r} is not a whole number of MiB") from None
    if mib < 0:
        raise ValueError(f"{LAKE_COMPACT_ENV}={text!r} is negative; use 0 to turn compaction off")
    return ParquetLake(compact_below_mib=mib)


def build_resources() -> dict[str, object]:
    """Every resource the assets use, keyed as the assets name them."""
    return {
        "chain_source": chain_source_from_env(),
        "lake": lake_from_env(),
        "warehouse": DuckDBWarehouse(),
    }
