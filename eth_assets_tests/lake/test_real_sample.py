"""The raw and label assets over the whole real sample in ../shared/data (skipped without it)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, materialize

from eth_assets.features.feature_assets import address_features, address_universe
from eth_assets.labels.label_assets import illicit_labels
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets.resources.chain_sources import SHARED_LABEL_FILES, ParquetChainSource

RANGE_TAGS = {
    "dagster/asset_partition_range_start": "2015-09-10",
    "dagster/asset_partition_range_end": "2022-11-15",
}


def _run_metadata(result, node: str) -> dict[str, object]:
    event = result.asset_materializations_for_node(node)[0]
    return {k: v.value for k, v in event.metadata.items()}


@pytest.mark.e2e
def test_whole_sample_twice_gives_the_parquet_counts(shared_data: Path, make_resources) -> None:
    resources = make_resources(source=ParquetChainSource(folder=str(shared_data / "raw_txns")))
    lake = resources["lake"]
    label_files = [str(shared_data / "labels" / name) for name in SHARED_LABEL_FILES]
    run_config = {"ops": {"illicit_labels": {"config": {"files": label_files}}}}
    instance = DagsterInstance.ephemeral()
    for _ in range(2):
        result = materialize(
            [raw_transactions, raw_token_transfers, illicit_labels],
            resources=resources,
            instance=instance,
            tags=RANGE_TAGS,
            run_config=run_config,
        )
        assert result.success
        assert _run_metadata(result, "raw_transactions")["run_rows"] == 383_720
        assert _run_metadata(result, "raw_token_transfers")["run_rows"] == 61_981
        assert len(result.asset_materializations_for_node("raw_transactions")) == 2624
        total, unique = duckdb.sql(
            f"SELECT count(*), count(DISTINCT hash) FROM ({lake.relation_sql('transactions')})"
        ).fetchall()[0]
        assert (total, unique) == (383_720, 383_720)
        transfers = duckdb.sql(
            f"SELECT count(*) FROM ({lake.relation_sql('token_transfers')})"
        ).fetchall()
        assert transfers == [(61_981,)]
    labels = _run_metadata(result, "illicit_labels")
    assert labels["unique_addresses"] == 6740
    assert labels["rejected_entries"] == 29

    features = materialize(
        [address_universe, address_features],
        resources=resources,
        instance=instance,
        run_config={"ops": {"address_features": {"config": {"as_of": "2019-04-25"}}}},
    )
    assert features.success
    universe = _run_metadata(features, "address_universe")
    assert universe["dagster/row_count"] == 4113  # accounts.csv rows with in_subset = true
    assert _run_metadata(features, "address_features")["dagster/row_count"] == 4113
