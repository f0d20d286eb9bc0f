"""Small hand-built raw tables in the BigQuery schema, written as Parquet for source tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20
CONTRACT = "0x" + "c3" * 20
TOKEN = "0x" + "d4" * 20

# A uint256-sized amount (2**255 + 1): far beyond DECIMAL(38,0) and 2**128.
HUGE_TOKEN_VALUE = str(2**255 + 1)


def ts(day: int, hour: int = 12) -> datetime:
    """A UTC block time on 2020-01-<day>."""
    return datetime(2020, 1, day, hour, tzinfo=UTC)


def transactions_table() -> pa.Table:
    """Four transactions over three days: transfer, contract creation, failed call, reply."""
    rows = [
        # hash, from, to, value wei, status, contract, ts
        ("0x01", ALICE, BOB, Decimal(10**18), 1, None, ts(1)),
        ("0x02", ALICE, None, Decimal(0), 1, CONTRACT, ts(1, 13)),
        ("0x03", BOB, CONTRACT, Decimal(5 * 10**17), 0, None, ts(2)),
        ("0x04", BOB, ALICE, Decimal(2 * 10**17), None, None, ts(3)),
    ]
    return pa.table(
        {
            "hash": [r[0] for r in rows],
            "nonce": pa.array([0, 1, 0, 1], pa.int64()),
            "transaction_index": pa.array([0, 1, 0, 0], pa.int64()),
            "from_address": [r[1] for r in rows],
            "to_address": [r[2] for r in rows],
            "value": pa.array([r[3] for r in rows], pa.decimal128(38, 0)),
            "gas": pa.array([21000] * 4, pa.int64()),
            "gas_price": pa.array([10**9] * 4, pa.int64()),
            "input": ["0x", "0x6080", "0xa9059cbb", "0x"],
            "receipt_gas_used": pa.array([21000] * 4, pa.int64()),
            "receipt_contract_address": [r[5] for r in rows],
            "receipt_status": pa.array([r[4] for r in rows], pa.int64()),
            "block_timestamp": pa.array([r[6] for r in rows], pa.timestamp("us", tz="UTC")),
            "block_number": pa.array([100, 101, 200, 300], pa.int64()),
            "block_hash": ["0xb1", "0xb1", "0xb2", "0xb3"],
        }
    )


def token_transfers_table() -> pa.Table:
    """Two token transfers, one of a uint256-sized scam amount."""
    return pa.table(
        {
            "token_address": [TOKEN, TOKEN],
            "from_address": [ALICE, CONTRACT],
            "to_address": [BOB, ALICE],
            "value": ["1500000", HUGE_TOKEN_VALUE],
            "transaction_hash": ["0x05", "0x06"],
            "block_number": pa.array([100, 300], pa.int64()),
            "block_hash": ["0xb1", "0xb3"],
            "block_timestamp": pa.array([ts(1), ts(3)], pa.timestamp("us", tz="UTC")),
            "token_name": ["Tether", "Tether"],
            "token_symbol": ["USDT", "USDT"],
            "token_decimals": ["6", "6"],
        }
    )


def write_bigquery_schema_folder(folder: Path) -> Path:
    """A folder laid out like ../shared/data/raw_txns, with the tables above."""
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(transactions_table(), folder / "transactions.parquet")
    pq.write_table(token_transfers_table(), folder / "token_transfers.parquet")
    return folder
