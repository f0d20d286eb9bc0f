"""The raw, label, feature-state and feature assets over the real sample in ../shared/data, as
the README's real-sample block leaves them (run once per session, shared with the newcomer's-path
test); skipped without the data."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from dagster import DagsterInstance, materialize

from eth_assets.common.duckdb_utils import sql_literal
from eth_assets.features.state_run import state_folder
from eth_assets.features.state_store import compare_with_lake, lake_days, read_manifests
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets_tests.fixtures.quickstart import RealSampleRun

# What tells rows apart (the sample's token transfers carry no log_index).
KEYS = {
    "transactions": "hash",
    "token_transfers": "(transaction_hash, token_address, from_address, to_address, value)",
}
# The source's rows in that range and their distinct keys (a transfer logged twice in one
# transaction with the same parties and value counts twice, as in the source).
EXPECTED = {"transactions": (352_706, 352_706), "token_transfers": (45_265, 45_148)}
# The README block's range: 2015-09-10 … 2019-04-24, i.e. before its as_of.
FIRST, AS_OF = "2015-09-10", "2019-04-25"


def source_rows(shared_data: Path, table: str) -> tuple[int, int]:
    """Rows and distinct keys of the source file in the README's range, read straight from it."""
    key = KEYS[table]
    path = sql_literal(str(shared_data / "raw_txns" / f"{table}.parquet"))
    return duckdb.sql(
        f"SELECT count(*), count(DISTINCT {key}) FROM read_parquet({path}) "
        f"WHERE block_timestamp >= TIMESTAMPTZ '{FIRST} 00:00:00+00' "
        f"AND block_timestamp < TIMESTAMPTZ '{AS_OF} 00:00:00+00'"
    ).fetchall()[0]


def lake_rows(lake: ParquetLake, table: str) -> tuple[int, int]:
    key = KEYS[table]
    return duckdb.sql(
        f"SELECT count(*), count(DISTINCT {key}) FROM ({lake.relation_sql(table)})"
    ).fetchall()[0]


def test_the_lake_holds_the_source_rows_once(
    real_sample_run: RealSampleRun, shared_data: Path
) -> None:
    real = real_sample_run.folder / "data" / "real"
    lake = ParquetLake(root=str(real / "lake"))
    for table in ("transactions", "token_transfers"):
        total, unique = source_rows(shared_data, table)
        assert (total, unique) == EXPECTED[table]
        assert lake_rows(lake, table) == (total, unique), table
    listed = sql_literal(str(lake.table_path("illicit_labels")))
    labels = duckdb.sql(f"SELECT count(DISTINCT address) FROM read_parquet({listed})").fetchall()
    assert labels == [(6740,)]
    rejected = lake.table_path("illicit_labels_rejected")
    assert duckdb.sql(
        f"SELECT count(*) FROM read_parquet({sql_literal(str(rejected))})"
    ).fetchall() == [(29,)]
    with duckdb.connect(str(real / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM address_universe").fetchall() == [(4113,)]
        assert con.execute("SELECT count(*) FROM address_features").fetchall() == [(4113,)]
    # the feature state covers every lake day and matches it, to the byte
    root = lake.root_path()
    assert sorted(read_manifests(state_folder(root))) == sorted(lake_days(root))
    assert compare_with_lake(state_folder(root), root, verify_checksums=True).current


def test_re_extracting_a_month_changes_no_count(
    real_sample_run: RealSampleRun, shared_data: Path, make_resources, tmp_path: Path
) -> None:
    """Materializing a month again replaces its days: the lake holds every row once."""
    shutil.copytree(real_sample_run.folder / "data" / "real" / "lake", tmp_path / "lake")
    resources = make_resources(source=ParquetChainSource(folder=str(shared_data / "raw_txns")))
    lake = resources["lake"]
    before = {table: lake_rows(lake, table) for table in ("transactions", "token_transfers")}
    result = materialize(
        [raw_transactions, raw_token_transfers],
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2017-06-01",
            "dagster/asset_partition_range_end": "2017-06-30",
        },
    )
    assert result.success
    event = result.asset_materializations_for_node("raw_transactions")[0]
    assert event.metadata["run_rows"].value > 1000  # a busy month of the sample
    assert {table: lake_rows(lake, table) for table in before} == before
