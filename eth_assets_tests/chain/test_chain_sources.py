"""The Parquet chain source: BigQuery-schema files, ethereum-etl and cryo exports, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.common.duckdb_utils import connect
from eth_assets.resources.chain_sources import ParquetChainSource, SourceDataError
from eth_assets_tests.fixtures import ALICE, BOB, TOKEN, write_bigquery_schema_folder

START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2020, 2, 1, tzinfo=UTC)


def _staged_rows(folder: Path, table=TRANSACTIONS, columns: str = "*") -> list[tuple]:
    con = connect()
    view, _ = ParquetChainSource(folder=str(folder)).stage(con, table, START, END)
    return con.execute(f"SELECT {columns} FROM {view} ORDER BY ALL").fetchall()


def test_bigquery_schema_folder_maps_to_canonical_columns(tmp_path: Path) -> None:
    folder = write_bigquery_schema_folder(tmp_path)
    con = connect()
    view, meta = ParquetChainSource(folder=str(folder)).stage(con, TRANSACTIONS, START, END)
    names = [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
    assert names == TRANSACTIONS.column_names
    assert meta["columns_filled_with_null"] == ["receipt_effective_gas_price"]


def test_folder_of_parquet_files_is_read_whole(tmp_path: Path) -> None:
    src = write_bigquery_schema_folder(tmp_path / "one")
    nested = tmp_path / "many" / "transactions"
    nested.mkdir(parents=True)
    table = pq.read_table(src / "transactions.parquet")
    pq.write_table(table.slice(0, 2), nested / "a.parquet")
    pq.write_table(table.slice(2), nested / "b.parquet")
    assert len(_staged_rows(tmp_path / "many")) == 4


def test_ethereum_etl_export_with_unix_timestamps(tmp_path: Path) -> None:
    """ethereum-etl writes block_timestamp as seconds since the epoch and a `status` column."""
    pq.write_table(
        pa.table(
            {
                "hash": ["0xaa"],
                "from_address": [ALICE.upper().replace("0X", "0x")],
                "to_address": [BOB],
                "value": pa.array([123], pa.int64()),
                "block_timestamp": pa.array([int(datetime(2020, 1, 5, tzinfo=UTC).timestamp())]),
                "block_number": pa.array([9], pa.int64()),
                "receipt_status": pa.array([1], pa.int64()),
            }
        ),
        tmp_path / "transactions.parquet",
    )
    rows = _staged_rows(tmp_path, columns="hash, from_address, value, block_timestamp")
    assert rows == [("0xaa", ALICE, 123, datetime(2020, 1, 5, tzinfo=UTC))]


def test_cryo_export_with_binary_columns_and_blocks_file(tmp_path: Path) -> None:
    """cryo stores hashes/addresses as bytes, `success` as a boolean, and erc20 transfers
    without timestamps (taken from a blocks file)."""
    pq.write_table(
        pa.table(
            {
                "block_number": pa.array([7], pa.uint32()),
                "transaction_index": pa.array([0], pa.uint32()),
                "transaction_hash": [bytes.fromhex("ab" * 32)],
                "nonce": pa.array([3], pa.uint64()),
                "from_address": [bytes.fromhex(ALICE[2:])],
                "to_address": pa.array([None], pa.binary()),
                "value_string": ["1000000000000000000"],
                "gas_limit": pa.array([50000], pa.uint64()),
                "gas_used": pa.array([40000], pa.uint64()),
                "gas_price": pa.array([10], pa.uint64()),
                "success": [True],
                "timestamp": pa.array(
                    [int(datetime(2020, 1, 2, tzinfo=UTC).timestamp())], pa.uint32()
                ),
            }
        ),
        tmp_path / "transactions.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "block_number": pa.array([7], pa.uint32()),
                "transaction_hash": [bytes.fromhex("ab" * 32)],
                "log_index": pa.array([2], pa.uint32()),
                "erc20": [bytes.fromhex(TOKEN[2:])],
                "from_address": [bytes.fromhex(ALICE[2:])],
                "to_address": [bytes.fromhex(BOB[2:])],
                "value_string": [str(2**200)],
            }
        ),
        tmp_path / "token_transfers.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "block_number": pa.array([7], pa.uint32()),
                "timestamp": pa.array(
                    [int(datetime(2020, 1, 2, tzinfo=UTC).timestamp())], pa.uint32()
                ),
            }
        ),
        tmp_path / "blocks.parquet",
    )
    tx = _staged_rows(
        tmp_path,
        columns="hash, from_address, to_address, value, gas, receipt_gas_used, receipt_status",
    )
    assert tx == [("0x" + "ab" * 32, ALICE, None, 10**18, 50000, 40000, 1)]
    transfers = _staged_rows(
        tmp_path, TOKEN_TRANSFERS, "token_address, to_address, value, log_index, block_timestamp"
    )
    assert transfers == [(TOKEN, BOB, str(2**200), 2, datetime(2020, 1, 2, tzinfo=UTC))]


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"hash": ["0x1"], "block_number": [1], "block_timestamp": [START]}),
        tmp_path / "transactions.parquet",
    )
    with pytest.raises(SourceDataError, match="required column 'from_address' is missing"):
        _staged_rows(tmp_path)


def test_float_amounts_are_rejected(tmp_path: Path) -> None:
    folder = write_bigquery_schema_folder(tmp_path)
    table = pq.read_table(folder / "transactions.parquet")
    table = table.set_column(table.schema.get_field_index("value"), "value", pa.array([1.0] * 4))
    pq.write_table(table, folder / "transactions.parquet")
    with pytest.raises(SourceDataError, match="exact integer amounts"):
        _staged_rows(folder)


def test_missing_folder_has_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceDataError, match="does not exist; set ETH_ASSETS_PARQUET_DIR"):
        _staged_rows(tmp_path / "nowhere")


def test_missing_table_files_have_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceDataError, match="no transactions Parquet files"):
        _staged_rows(tmp_path)


def test_real_sample_reads_with_bigquery_types(shared_data: Path) -> None:
    con = duckdb.connect()
    source = ParquetChainSource(folder=str(shared_data / "raw_txns"))
    view, _ = source.stage(
        con, TRANSACTIONS, datetime(2015, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)
    )
    count, creations = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE to_address IS NULL) FROM {view}"
    ).fetchall()[0]
    assert count == 383_720
    assert creations > 0
