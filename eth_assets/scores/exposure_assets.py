"""Counterparties, activity over time, token holdings and exposure to listed addresses per
address, in the DuckDB warehouse: what the address page shows beside the scores (never a model
feature). The model's flags come later: address_scores adds the flagged exposure."""

from collections.abc import Mapping
from pathlib import Path

import duckdb
import polars as pl
from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from eth_assets import settings
from eth_assets.chain.sim import write_entity_labels
from eth_assets.features.feature_assets import address_features
from eth_assets.features.feature_provenance import Provenance, read_provenance
from eth_assets.features.universe import require_universe
from eth_assets.labels.entity_labels import read_entity_labels
from eth_assets.labels.label_assets import illicit_labels
from eth_assets.lake.provenance import require_one_source
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets.resources.simulated_source import SimulatedChainSource
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse
from eth_assets.scores.exposure import (
    COUNTERPARTIES_TABLE,
    HOLDINGS_TABLE,
    LISTED_TABLE,
    MONTHLY_TABLE,
    ExposureTables,
    exposure_tables_from_lake,
    label_sources,
)

SIM_ENTITY_FILE = "entity-labels.json"


def entity_labels_path(chain_source: ChainSource) -> Path | None:
    """The entity labels that name counterparties: the simulated chain's own exchanges and pools
    for the simulated source (real-world labels never match its addresses), else
    settings.entity_labels_file() (None: no entity labels)."""
    if isinstance(chain_source, SimulatedChainSource):
        return write_entity_labels(
            chain_source.sim_config(), chain_source.work_path() / SIM_ENTITY_FILE
        )
    return settings.entity_labels_file()


def read_labels(lake: ParquetLake) -> pl.DataFrame:
    """The lake's label rows (address, source); empty before illicit_labels ran."""
    path = lake.table_path("illicit_labels")
    if not path.is_file():
        return pl.DataFrame(schema={"address": pl.Utf8, "source": pl.Utf8})
    return pl.read_parquet(path, columns=["address", "source"])


def exposure_metadata(
    con: duckdb.DuckDBPyConnection,
    written: ExposureTables,
    features: Provenance,
    labels: pl.DataFrame,
    entities: Mapping[str, list[str]],
    entity_file: Path | None,
) -> dict[str, object]:
    """What the Dagster UI shows of a materialization of address_exposure."""
    listed = con.sql(
        f"SELECT count(*) FILTER (WHERE eth_received_listed > 0) AS received_from_listed, "
        f"count(*) FILTER (WHERE eth_sent_listed > 0) AS sent_to_listed, count(*) AS rows "
        f"FROM {LISTED_TABLE} WHERE in_universe"
    ).pl()
    return {
        "dagster/row_count": written.counterparties,
        "as_of": features.as_of.isoformat(),
        "tables": MetadataValue.json(
            {
                COUNTERPARTIES_TABLE: written.counterparties,
                MONTHLY_TABLE: written.monthly,
                HOLDINGS_TABLE: written.holdings,
                LISTED_TABLE: written.listed_rows,
            }
        ),
        "addresses_that_received_from_listed": int(listed["received_from_listed"][0]),
        "addresses_that_sent_to_listed": int(listed["sent_to_listed"][0]),
        "label_sources": MetadataValue.json(label_sources(labels)),
        "indirect_exposure": MetadataValue.text(
            f"computed over {written.ring_addresses} counterparties outside the universe"
            if not written.indirect_note
            else written.indirect_note
        ),
        "entity_labels": MetadataValue.text(
            f"{len(entities)} from {entity_file}" if entity_file else "none"
        ),
    }


def recorded_features(con: duckdb.DuckDBPyConnection) -> Provenance:
    """How address_features was computed (cut-off, tokens left out); refused without it."""
    features = read_provenance(con)
    if features is None:
        raise LookupError(
            "address_features recorded no provenance (as_of, tokens left out): materialize "
            "address_features first"
        )
    return features


@asset(
    deps=[address_features, illicit_labels],
    group_name="features",
    kinds={"duckdb", "sql"},
    tags=WAREHOUSE_TAG,
    backfill_policy=BackfillPolicy.single_run(),
)
def address_exposure(
    context: AssetExecutionContext,
    chain_source: ChainSource,
    lake: ParquetLake,
    warehouse: DuckDBWarehouse,
) -> MaterializeResult:
    """Counterparties, monthly activity, token holdings and listed exposure per address, from
    the lake as address_features read it (same as_of and tokens left out); never a feature."""
    entity_file = entity_labels_path(chain_source)
    entities = read_entity_labels(entity_file) if entity_file else {}
    labels = read_labels(lake)
    with warehouse.connect() as con:
        require_universe(con)
        features = recorded_features(con)
        require_one_source(
            chain_source.describe(),
            {
                "address_features": features.chain_source,
                "illicit_labels": lake.table_source("illicit_labels"),
                "raw_transactions": lake.sources("transactions"),
                "raw_token_transfers": lake.sources("token_transfers"),
            },
        )
        written = exposure_tables_from_lake(
            con,
            lake,
            features.as_of,
            features.excluded_tokens,
            labels,
            features.complete_histories,
            entities,
            {
                "chain_source": chain_source.describe(),
                "features_engine": features.engine,
                "features_run_id": features.dagster_run_id,
                "entity_labels": str(entity_file) if entity_file else "none",
                "dagster_run_id": context.run_id,
            },
        )
        metadata = exposure_metadata(con, written, features, labels, entities, entity_file)
    metadata["warehouse"] = MetadataValue.path(str(warehouse.file_path()))
    return MaterializeResult(metadata=metadata)
