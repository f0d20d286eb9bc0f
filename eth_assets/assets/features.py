"""Feature tables in the DuckDB warehouse: the address universe and per-address features."""

from datetime import datetime
from pathlib import Path
from typing import Literal

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from eth_assets.as_of import default_as_of, parse_as_of
from eth_assets.assets.labels import illicit_labels
from eth_assets.assets.metadata import markdown_table
from eth_assets.assets.raw import raw_token_transfers, raw_transactions
from eth_assets.features import (
    excluded_transfers,
    feature_summary,
    feature_tables_from_lake,
    register_lake_views,
    store_pushed_features,
)
from eth_assets.pushdown import features_in_bigquery
from eth_assets.resources.bigquery_source import BigQueryChainSource
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.lake import ParquetLake
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse
from eth_assets.settings import (
    ADDRESS_FILE_ENV,
    FEATURE_ENGINE_ENV,
    LABEL_BROADCAST_TOKENS_ENV,
    address_file,
    feature_engine,
    label_broadcast_tokens,
)
from eth_assets.universe import (
    UNIVERSE_TABLE,
    read_address_file,
    require_universe,
    sample_universe,
    store_universe,
    universe_addresses,
)

AS_OF_DESCRIPTION = (
    "Only transactions with block_timestamp < as_of count (ISO date or timestamp, UTC). "
    "Empty: the end of the latest materialized raw_transactions partition."
)


def resolve_as_of(context: AssetExecutionContext, configured: str) -> datetime:
    """The configured cutoff, or the end of the latest materialized raw partition."""
    if configured:
        return parse_as_of(configured)
    keys = context.instance.get_materialized_partitions(AssetKey("raw_transactions"))
    return default_as_of(set(keys))


class AddressUniverseConfig(Config):
    """An explicit address file, or labelled addresses plus a deterministic sample."""

    address_file: str = Field(
        default="",
        description=(
            f"CSV/Parquet with an `address` column. Empty: ${ADDRESS_FILE_ENV} if set, else the "
            "chain source's own account list if it has one, else labelled addresses with "
            "history plus a sample."
        ),
    )
    flag_column: str = Field("", description="Boolean column of the file; keep rows where true.")
    sample_size: int = Field(2000, description="Active unlabelled addresses sampled.")
    min_transactions: int = Field(5, description="Activity needed to be sampled.")
    seed: str = Field("eth_assets", description="Seed of the deterministic sample.")
    as_of: str = Field("", description=AS_OF_DESCRIPTION)


@asset(
    deps=[raw_transactions, illicit_labels],
    group_name="features",
    kinds={"duckdb"},
    tags=WAREHOUSE_TAG,
    backfill_policy=BackfillPolicy.single_run(),
)
def address_universe(
    context: AssetExecutionContext,
    config: AddressUniverseConfig,
    chain_source: ChainSource,
    lake: ParquetLake,
    warehouse: DuckDBWarehouse,
) -> MaterializeResult:
    """The addresses to profile: those whose whole history is in the store."""
    labels_path = lake.table_path("illicit_labels")
    labelled = (
        pl.read_parquet(labels_path, columns=["address"])
        if labels_path.is_file()
        else pl.DataFrame({"address": []}, schema={"address": pl.Utf8})
    )
    explicit = config.address_file or address_file()
    listed = (
        (explicit, config.flag_column or None) if explicit else chain_source.default_address_file()
    )
    with warehouse.connect() as con:
        if listed:
            universe = read_address_file(Path(listed[0]), listed[1])
            origin = f"address file {listed[0]}"
        else:
            register_lake_views(con, lake)
            con.register("labels", labelled.to_arrow())
            as_of = resolve_as_of(context, config.as_of)
            universe = sample_universe(
                con, as_of, config.sample_size, config.min_transactions, config.seed
            )
            origin = f"labelled + sample of {config.sample_size} (as_of {as_of.isoformat()})"
        rows = store_universe(con, universe, labelled)
        by_reason = con.sql(
            f"SELECT inclusion_reason, is_labelled_illicit, count(*) AS addresses "
            f"FROM {UNIVERSE_TABLE} GROUP BY ALL ORDER BY ALL"
        ).pl()
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "origin": origin,
            "composition": MetadataValue.md(markdown_table(by_reason)),
            "warehouse": MetadataValue.path(str(warehouse.file_path())),
        }
    )


class AddressFeaturesConfig(Config):
    """The cutoff of the feature computation and where it runs."""

    as_of: str = Field("", description=AS_OF_DESCRIPTION)
    engine: Literal["", "local", "bigquery"] = Field(
        default="",
        description=(
            "local: DuckDB over the raw lake. bigquery: the same SQL transpiled and run inside "
            "BigQuery over the full chain (needs the bigquery chain source). Empty: "
            f"${FEATURE_ENGINE_ENV}, else local."
        ),
    )
    exclude_label_broadcast_tokens: bool = Field(
        default=True,
        description=(
            "Leave out the transfers of label-broadcast tokens (third parties' scam labels "
            f"airdropped on chain, listed in ${LABEL_BROADCAST_TOKENS_ENV}): they are labels, "
            "not behaviour."
        ),
    )


@asset(
    deps=[address_universe, raw_transactions, raw_token_transfers],
    group_name="features",
    kinds={"duckdb", "sql"},
    tags=WAREHOUSE_TAG,
    backfill_policy=BackfillPolicy.single_run(),
)
def address_features(
    context: AssetExecutionContext,
    config: AddressFeaturesConfig,
    chain_source: ChainSource,
    lake: ParquetLake,
    warehouse: DuckDBWarehouse,
) -> MaterializeResult:
    """The 44 Farrugia/CatBoost-paper features, the investor-profile features and, in
    `behaviour_features`, gas, contract-call, timing and counterparty behaviour."""
    engine = config.engine or feature_engine()
    if engine == "bigquery" and not isinstance(chain_source, BigQueryChainSource):
        raise ValueError(
            "engine 'bigquery' runs the features inside BigQuery and needs "
            f"ETH_ASSETS_SOURCE=bigquery; the chain source is {chain_source.describe()}"
        )
    as_of = resolve_as_of(context, config.as_of)
    excluded = label_broadcast_tokens() if config.exclude_label_broadcast_tokens else ()
    provenance = {
        "as_of": as_of.isoformat(),
        "engine": engine,
        "chain_source": chain_source.describe(),
        "complete_histories": chain_source.holds_complete_histories(),
        "lake": str(lake.root_path()),
        "excluded_tokens": list(excluded),
        "dagster_run_id": context.run_id,
    }
    engine_metadata: dict[str, object] = {}
    with warehouse.connect() as con:
        require_universe(con)
        if engine == "bigquery":
            table, engine_metadata = features_in_bigquery(
                chain_source, universe_addresses(con), as_of, excluded
            )
            rows = store_pushed_features(con, table, provenance)
        else:
            rows = feature_tables_from_lake(con, lake, as_of, excluded, provenance)
            transfers, recipients = excluded_transfers(con, lake, excluded, as_of)
            engine_metadata = {
                "label_broadcast_transfers_left_out": transfers,
                "universe_addresses_that_received_them": recipients,
            }
        summary = feature_summary(con, "address_features")
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "as_of": as_of.isoformat(),
            "engine": engine,
            "label_broadcast_tokens_left_out": MetadataValue.text(", ".join(excluded) or "none"),
            **{k: MetadataValue.text(str(v)) for k, v in engine_metadata.items()},
            "columns": len(summary),
            "summary": MetadataValue.md(markdown_table(summary)),
            "warehouse": MetadataValue.path(str(warehouse.file_path())),
        }
    )
