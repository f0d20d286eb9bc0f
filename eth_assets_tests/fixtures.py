"""Shared test data and fakes: every test module takes them from here, never from another test.

- Raw tables in the BigQuery schema (four transactions, two token transfers), as Arrow or as a
  Parquet folder laid out like ../shared/data/raw_txns, for source, lake and graph tests.
- A BigQuery client fake, recording queries and playing back scripted results.
- The hand-built history of the feature tests (six universe addresses whose every feature is
  worked out by hand), the exact-uint256 balance cases, and a small real-sample-shaped folder.
"""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from dagster_gcp import BigQueryResource

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.common.duckdb_utils import connect
from eth_assets.lake.partition_writes import replace_window
from eth_assets.models.ml.explain import REASON_TYPE
from eth_assets.resources.chain_sources import ChainSource, ParquetChainSource
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import DuckDBWarehouse
from eth_assets.scores.snapshot import publish_snapshot

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


# The BigQuery client, faked at its query() boundary.


class FakeJob:
    """Stands in for a QueryJob: returns an Arrow table or raises, like `job.to_arrow()`."""

    def __init__(self, outcome: pa.Table | Exception) -> None:
        self.outcome = outcome
        self.job_id = "job-1"
        self.total_bytes_billed = 10 * 2**20

    def to_arrow(self) -> pa.Table:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class FakeClient:
    """Records every query with its job config and plays back scripted outcomes, in order or,
    given a mapping, by the table the SQL reads."""

    def __init__(
        self, outcomes: list[pa.Table | Exception] | dict[str, list[pa.Table | Exception]]
    ) -> None:
        self.outcomes = outcomes
        self.calls: list[tuple[str, object]] = []

    def query(self, sql: str, job_config: object = None) -> FakeJob:
        self.calls.append((sql, job_config))
        if isinstance(self.outcomes, dict):
            table = "token_transfers" if ".token_transfers`" in sql else "transactions"
            return FakeJob(self.outcomes[table].pop(0))
        return FakeJob(self.outcomes.pop(0))


# Dagster rebuilds resources from their config at run time, so the fake client is looked up by
# a config field rather than held on the instance.
FAKE_CLIENTS: dict[str, FakeClient] = {}


class FakeBigQuery(BigQueryResource):
    """A BigQueryResource whose client is a FakeClient (Dagster rejects plain mocks)."""

    fake_client_key: str

    @classmethod
    def around(cls, client: FakeClient) -> FakeBigQuery:
        key = str(id(client))
        FAKE_CLIENTS[key] = client
        return cls(project="test-project", fake_client_key=key)

    @contextmanager
    def get_client(self) -> Iterator[FakeClient]:  # type: ignore[override]
        yield FAKE_CLIENTS[self.fake_client_key]


# The hand-built history of the feature tests: minutes after T0, amounts in wei or raw token units.

T0 = datetime(2021, 1, 1, tzinfo=UTC)
HISTORY_AS_OF = datetime(2021, 1, 10, tzinfo=UTC)
ETH = 10**18
GWEI = 10**9


def repeated_address(tag: str) -> str:
    """A lower-case 0x + 40 hex address made of one repeated byte."""
    return "0x" + tag * 20


A, B, C, D, E, F = (repeated_address(t) for t in ("aa", "bb", "cc", "dd", "ee", "ff"))
# Outside the universe:
X, Y, MINTER = repeated_address("01"), repeated_address("02"), repeated_address("03")
TOK6, TOK18, SCAM, UNK, PREC = (repeated_address(t) for t in ("16", "18", "5c", "0f", "9e"))
UNIVERSE = [A, B, C, D, E, F]

HUGE = 2**255  # a scam token amount: 77 digits, beyond DECIMAL(38, 0) and HUGEINT
S = 2**255 / 1e18  # its amount in token units as a DOUBLE
V1, V2 = 123456789012345678901, 987654321098765432109  # where DOUBLE sums are not exact


def at(minute: float) -> datetime:
    """Block time `minute` minutes after T0."""
    return T0 + timedelta(minutes=minute)


def tx(
    name: str,
    minute: float,
    sender: str,
    to: str | None,
    wei: int,
    *,
    gas_used: int = 21000,
    price: int = 10 * GWEI,
    effective: int | None = None,
    status: int | None = 1,
    created: str | None = None,
) -> tuple:
    """One row of `transactions` in schema column order."""
    return (
        name, 0, 0, sender, to, Decimal(wei), 100_000, price, gas_used, created, status,
        effective, at(minute), int(minute), "0xblock",
    )  # fmt: skip


def transfer(
    name: str, minute: float, token: str, sender: str, to: str, value: int, symbol: str,
    token_name: str, decimals: int | None,
) -> tuple:  # fmt: skip
    """One row of `token_transfers` in schema column order."""
    return (
        token, sender, to, str(value), name, None, at(minute), int(minute), "0xblock",
        token_name, symbol, decimals,
    )  # fmt: skip


AFTER = (HISTORY_AS_OF - T0).total_seconds() / 60  # the cutoff, in minutes after T0

TRANSACTIONS_ROWS = [
    tx("0xt1", 0, A, B, 3 * ETH // 2),
    tx("0xt2", 60, B, A, ETH // 4),
    tx("0xt3", 120, A, None, 2 * ETH, gas_used=100_000, created=C),  # A creates contract C
    # failed call: costs gas at the effective price, moves no ether
    tx(
        "0xt4", 180, A, C, ETH // 2, gas_used=30_000, price=20 * GWEI, effective=30 * GWEI, status=0
    ),
    tx("0xt5", 240, A, A, ETH // 10, status=None),  # self-transfer before Byzantium
    tx("0xt6", 300, B, D, 3 * ETH),
    tx("0xt12", 100, X, Y, 9 * ETH),  # between outsiders
    tx("0xt7", 420, A, C, ETH, gas_used=50_000),  # a call that runs code
    tx("0xt8", 600, X, A, 4 * ETH),
    tx("0xt10", 720, B, C, ETH // 5, gas_used=40_000),
    tx("0xt13", 800, X, D, ETH),
    tx("0xt9", AFTER, X, E, ETH),  # at the cutoff: excluded
    tx("0xt11", AFTER + 60, A, B, 7 * ETH),  # after the cutoff
]

TOKEN_ROWS = [
    transfer("0xk1", 30, TOK6, X, A, 2_500_000, "USDC", "USD Coin", 6),
    transfer("0xk2", 90, TOK6, A, B, 1_000_000, "USDC", "USD Coin", 6),
    transfer("0xk3", 150, TOK18, X, A, 5 * ETH, "DAI", "Dai", 18),
    transfer("0xk4", 210, TOK18, A, C, 2 * ETH, "DAI", "Dai", 18),  # to a contract
    transfer("0xk6", 400, SCAM, MINTER, A, HUGE, "SCAM", "ScamToken", 18),
    transfer("0xk7", 450, TOK18, A, B, 3 * ETH, "DAI", "Dai", 18),
    transfer("0xk7", 450, TOK6, A, B, 500_000, "USDC", "USD Coin", 6),  # same transaction
    transfer("0xk11", 550, TOK6, A, A, 100_000, "USDC", "USD Coin", 6),  # self-transfer
    transfer("0xk9", 500, UNK, X, D, 123, "ZZ", "Zeta", None),  # decimals unknown
    transfer("0xk12", 510, TOK18, X, D, ETH, "DAI", "Dai", 18),
    transfer("0xp1", 20, PREC, X, F, V1 + V2, "PRC", "Precise", 18),
    transfer("0xp2", 40, PREC, F, X, V1, "PRC", "Precise", 18),
    transfer("0xp3", 50, PREC, F, X, V2, "PRC", "Precise", 18),
    transfer("0xs1", 60, SCAM, X, F, HUGE, "SCAM", "ScamToken", 18),
    transfer("0xs2", 100, SCAM, F, X, HUGE, "SCAM", "ScamToken", 18),
    transfer("0xk10", AFTER + 1, TOK6, X, A, 9_000_000, "USDC", "USD Coin", 6),  # too late
]


def create_table(con: duckdb.DuckDBPyConnection, name: str, columns, rows: list[tuple]) -> None:
    """A table with the schema's columns and types, filled with `rows`."""
    con.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {t}' for c, t in columns)})").fetchall()
    if rows:
        marks = ", ".join("?" for _ in columns)
        con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)


def history_connection(
    transactions: list[tuple], token_transfers: list[tuple], universe: list[str]
) -> duckdb.DuckDBPyConnection:
    """An in-memory connection holding the feature query's three inputs as tables."""
    con = connect()
    create_table(con, "transactions", TRANSACTIONS.columns, transactions)
    create_table(con, "token_transfers", TOKEN_TRANSFERS.columns, token_transfers)
    create_table(con, "universe", [("address", "VARCHAR")], [(a,) for a in universe])
    return con


def write_history_lake(root: Path, transactions: list[tuple], token_transfers: list[tuple]) -> Path:
    """A Parquet lake under `root` holding the given rows (in `tx` / `transfer` form), written
    day by day as the raw assets write it; the lake folder."""
    source = history_connection(transactions, token_transfers, [])
    start, end = T0 - timedelta(days=400), T0 + timedelta(days=400)
    for table in (TRANSACTIONS, TOKEN_TRANSFERS):
        rows = source.sql(f"SELECT * FROM {table.name}").to_arrow_table()

        def stage(con: duckdb.DuckDBPyConnection, rows: pa.Table = rows) -> tuple[str, dict]:
            con.register("hand_built_rows", rows)
            return "hand_built_rows", {}

        replace_window(root, table, stage, start, end)
    source.close()
    return root


# Exposure by hand (docs/exposure.md). PAID was paid 3 ETH by the listed LISTED_1, 1 ETH by the
# listed LISTED_2 and 4 ETH by the exchange EXCHANGE (3 in January, 1 in February), and sent 2 ETH
# to FLAGGED, which the model flags (a failed 9 ETH payment moved nothing). The exchange itself
# received 10 ETH from LISTED_1, 25 from OUTSIDER and 5 from FLAGGED; FLAGGED paid LISTED_2 1 ETH.
# Tokens: token W (2 decimals) from LISTED_1 once and from the exchange three times, once to
# FLAGGED; one transfer of a token of unknown decimals from the exchange.
PAID, LISTED_1, LISTED_2, EXCHANGE, FLAGGED, OUTSIDER, TOKEN_W, TOKEN_U = (
    repeated_address(t) for t in ("70", "71", "72", "73", "74", "75", "76", "77")
)
EXPOSURE_AS_OF = datetime(2021, 3, 1, tzinfo=UTC)
FEBRUARY = 60 * 24 * 35  # minutes after T0: 2021-02-05
EXPOSURE_TRANSACTIONS = [
    tx("0xe1", 10, LISTED_1, PAID, 3 * ETH),
    tx("0xe2", 20, LISTED_2, PAID, ETH),
    tx("0xe3", 30, EXCHANGE, PAID, 3 * ETH),
    tx("0xe4", 40, PAID, FLAGGED, 2 * ETH),
    tx("0xe5", 50, PAID, FLAGGED, 9 * ETH, status=0),  # failed: a transaction, no ether
    tx("0xe6", 60, LISTED_1, EXCHANGE, 10 * ETH),
    tx("0xe7", 70, OUTSIDER, EXCHANGE, 25 * ETH),
    tx("0xe8", 80, FLAGGED, EXCHANGE, 5 * ETH),
    tx("0xe9", 90, FLAGGED, LISTED_2, ETH),
    tx("0xea", FEBRUARY, EXCHANGE, PAID, ETH),
    tx("0xeb", 60 * 24 * 70, LISTED_1, PAID, 100 * ETH),  # after EXPOSURE_AS_OF
]
EXPOSURE_TRANSFERS = [
    transfer("0xw1", 15, TOKEN_W, LISTED_1, PAID, 500, "W", "Token W", 2),
    transfer("0xw2", 25, TOKEN_W, EXCHANGE, PAID, 700, "W", "Token W", 2),
    transfer("0xw3", 26, TOKEN_W, EXCHANGE, PAID, 700, "W", "Token W", 2),
    transfer("0xw4", 27, TOKEN_W, EXCHANGE, PAID, 700, "W", "Token W", 2),
    transfer("0xw5", 45, TOKEN_W, PAID, FLAGGED, 200, "W", "Token W", 2),
    transfer("0xu1", 35, TOKEN_U, EXCHANGE, PAID, HUGE, "U", "Token U", None),
]
EXPOSURE_UNIVERSE = [PAID, FLAGGED]  # the model scores (and flags) only universe addresses


# Raw token amounts of one (holder, token) each: received (+) and sent (−) values, as uint256
# digit strings. Several cancel exactly in 256-bit integers but not in DOUBLE, or carry across
# the 26-digit parts the query sums them in.
MAX_UINT = 2**256 - 1
HELD_CASES = [
    ([HUGE, -(HUGE - 1)], True),  # 1 unit left; DOUBLE says 2^255 − 2^255 = 0
    ([HUGE, -HUGE], False),
    ([HUGE - 10**30, 10**30 - 1, -(HUGE - 1)], False),  # exactly 0, across lengths
    ([10**60, -(10**60 - 1)], True),
    ([10**52, -(10**52 - 10**26)], True),  # 10^26: a carry at a part boundary
    ([MAX_UINT, -(MAX_UINT - 1)], True),  # 78 digits
    ([1, -(10**77)], False),  # more sent than received (a partial history)
    ([-1, 10**77, 10**77, -(2 * 10**77)], False),
    ([5, 7, -12, 10**50, -(10**50 + 1)], False),  # −1
]


def held_cases_connection() -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """A connection with one holder per HELD_CASES row (its own token), and the holders."""
    holders = ["0x" + f"{i + 1:040x}" for i in range(len(HELD_CASES))]
    rows = []
    for i, ((values, _), holder) in enumerate(zip(HELD_CASES, holders, strict=True)):
        token = "0x" + f"{1000 + i:040x}"
        for j, value in enumerate(values):
            sender, to = (X, holder) if value > 0 else (holder, X)
            rows.append(transfer(f"0xh{i}_{j}", j, token, sender, to, abs(value), "H", "H", 18))
    return history_connection([], rows, holders), holders


def write_sample_folder(folder: Path) -> None:
    """A folder shaped like shared/data/raw_txns: extra and missing columns, string decimals."""
    pq.write_table(
        pa.table({
            "hash": ["0x1"], "from_address": [A], "to_address": [B],
            "value": pa.array([Decimal(ETH)], pa.decimal128(38, 0)),
            "input": ["0x"], "etherscan_is_error": pa.array([0], pa.int32()),
            "block_timestamp": pa.array([at(0)], pa.timestamp("us", tz="UTC")),
            "block_number": [1],
        }),
        folder / "transactions.parquet",
    )  # fmt: skip
    pq.write_table(
        pa.table({
            "token_address": [TOK6], "from_address": [A], "to_address": [B], "value": ["7"],
            "transaction_hash": ["0x1"],
            "block_timestamp": pa.array([at(0)], pa.timestamp("us", tz="UTC")),
            "token_decimals": ["6"], "transaction_index": [0],
        }),
        folder / "token_transfers.parquet",
    )  # fmt: skip
    with (folder / "accounts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["address", "farrugia_flag", "in_subset"])
        writer.writerows([[A.upper().replace("0X", "0x"), "0", "true"], [B, "1", "false"]])


def resource_set(
    folder: Path, source: ChainSource | None = None, **entries: object
) -> dict[str, object]:
    """Every resource the assets use, all under `folder`.

    chain_source is `source`, or a Parquet source over the hand-built folder
    (write_bigquery_schema_folder, written to folder/source); lake is folder/lake, warehouse
    folder/warehouse.duckdb, tracker an MLflow SQLite store under folder/mlflow and models
    folder/models. Keyword arguments replace or add entries by key.
    """
    if source is None:
        source = ParquetChainSource(folder=str(write_bigquery_schema_folder(folder / "source")))
    return {
        "chain_source": source,
        "lake": ParquetLake(root=str(folder / "lake")),
        "warehouse": DuckDBWarehouse(path=str(folder / "warehouse.duckdb")),
        "tracker": MlflowTracker(
            tracking_uri=f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}",
            artifact_root=str(folder / "mlflow" / "artifacts"),
        ),
        "models": ModelStore(root=str(folder / "models"), published_root=str(folder / "published")),
        **entries,
    }


# Published scores for the address page and API tests.
KNOWN = "0x" + "ab" * 20
QUIET = "0x" + "cd" * 20
UNKNOWN = "0x" + "ef" * 20
CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 example, scored too


def _hand_made_reasons() -> list[list[dict[str, object]]]:
    """The known address's reasons: one raising its risk, one lowering it (as scoring writes)."""
    raising = {
        "feature": "unique_received_from_addresses",
        "label": "distinct addresses received from",
        "direction": "raises",
        "points": 0.3125,
        "shap_log_odds": 1.5,
        "value": 312.0,
        "category": None,
        "unit": "count",
        "shown": "312",
        "percentile_all": 98.0,
        "percentile_illicit": 90.0,
        "percentile_others": 99.0,
        "median_illicit": 40.0,
        "median_others": 3.0,
        "sentence": "raises the risk by 31.2 points — distinct addresses received from: 312, "
        "higher than 98 % of scored addresses (known illicit: median 40, others: median 3)",
    }
    lowering = {
        **raising,
        "feature": "time_diff_between_first_and_last_mins",
        "label": "minutes between first and last transaction",
        "direction": "lowers",
        "points": -0.051,
        "shap_log_odds": -0.4,
        "value": 5760.0,
        "unit": "minutes",
        "shown": "4.0 days",
        "sentence": "lowers the risk by 5.1 points — minutes between first and last "
        "transaction: 4.0 days, lower than 80 % of scored addresses",
    }
    return [[raising, lowering], [], []]


def _hand_made_scores(model: str) -> pl.DataFrame:
    rows = [
        (KNOWN, True, 0.93, True, "critical", 3, True),
        (QUIET, False, None, False, "no activity", 0, False),
        (CHECKSUMMED.lower(), True, 0.02, False, "low", 1, False),
    ]
    details = _hand_made_reasons()
    entry = {
        "source": "mew_darklist",
        "category": "phishing",
        "name": "Fake MEW",
        "date": "2018-01-02",
    }
    return pl.DataFrame(
        {
            "address": [r[0] for r in rows],
            "has_activity": [r[1] for r in rows],
            "probability": [r[2] for r in rows],
            "probability_low": [0.88, None, 0.01],
            "probability_high": [0.96, None, 0.04],
            "is_flagged": [r[3] for r in rows],
            "band": [r[4] for r in rows],
            "illicit_type": ["phishing", None, None],
            "illicit_type_probability": [0.72, None, None],
            "threshold": [0.5] * 3,
            "reasons": pl.Series([[d["sentence"] for d in ds] for ds in details]),
            "reason_features": pl.Series([[d["feature"] for d in ds] for ds in details]),
            "reason_details": pl.Series(details, dtype=pl.List(REASON_TYPE)),
            "profile_id": [r[5] for r in rows],
            "profile_name": ["busy hubs", "no activity", "dormant small movers"],
            "profile_sets_apart": [
                "higher counterparties (median 40 against 3 for all active addresses)",
                "no transaction or token transfer before as_of",
                "lower transactions and token transfers (median 1 against 5 for all active "
                "addresses)",
            ],
            "profile_values": ['{"transactions": 29.0}', "{}", '{"transactions": 1.0}'],
            "label_hits": pl.Series([[entry], None, None]),
            "model": [model] * 3,
            "chain_source": ["simulated:seed=7,accounts=100"] * 3,
        }
    )


def publish_hand_made_scores(folder: Path, name: str, model: str) -> None:
    """A published address_scores snapshot of three addresses, as `address_scores` writes it."""
    manifest = {
        "model": model,
        "as_of": "2021-06-30T00:00:00+00:00",
        "chain_source": "simulated:seed=7,accounts=100",
        "published_at": "2021-07-01T02:00:00+00:00",
        "dagster_run_id": "run-1",
        "bands": [["low", 0.0], ["medium", 0.25], ["high", 0.5], ["critical", 0.9]],
    }
    publish_snapshot(_hand_made_scores(model), folder, name, manifest)


# The whole graph on a small simulated chain, materialized once per test session (conftest's
# `graph` fixture): what the model, scores and on-the-fly tests read.
GRAPH_RANGE = {
    "dagster/asset_partition_range_start": "2021-01-01",
    "dagster/asset_partition_range_end": "2021-01-20",
}


def graph_assets() -> list:
    """Every asset from raw extracts to published scores (the published benchmark aside)."""
    from eth_assets.features.feature_assets import address_features, address_universe
    from eth_assets.labels.label_assets import illicit_labels
    from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
    from eth_assets.models.analysis_assets import elbow_analysis, tsne_embedding
    from eth_assets.models.classifier_assets import (
        illicit_classifier,
        model_comparison,
        training_set,
    )
    from eth_assets.models.dataset_assets import clean_features
    from eth_assets.models.illicit_type_assets import illicit_type_model
    from eth_assets.models.profile_assets import investor_profiles
    from eth_assets.scores.exposure_assets import address_exposure
    from eth_assets.scores.score_assets import address_scores

    return [
        raw_transactions,
        raw_token_transfers,
        illicit_labels,
        address_universe,
        address_features,
        address_exposure,
        clean_features,
        elbow_analysis,
        tsne_embedding,
        investor_profiles,
        training_set,
        illicit_classifier,
        illicit_type_model,
        model_comparison,
        address_scores,
    ]


@dataclass
class Graph:
    """A materialized graph: its data folder, instance, resources, tracker, check results, and
    the simulated accounts left out of its universe (whole histories in the lake, no score)."""

    folder: Path
    instance: object  # DagsterInstance
    resources: dict[str, object]
    tracker: MlflowTracker
    checks: dict[str, bool]
    held_out: list[str]


def universe_without_every_tenth(source: ChainSource, folder: Path) -> tuple[Path, list[str]]:
    """An address file of the simulated accounts but one in ten, and the ones left out."""
    listed = source.default_address_file()
    assert listed is not None
    accounts = pl.read_csv(listed[0]).sort("address")
    every_tenth = pl.int_range(pl.len()) % 10 == 0
    path = folder / "universe.csv"
    accounts.filter(~every_tenth).write_csv(path)
    return path, accounts.filter(every_tenth)["address"].to_list()


def build_graph(folder: Path) -> Graph:
    """Materialize the graph on 500 simulated accounts over 20 days (small grids), with one
    account in ten outside the universe, then investor_profiles a second time."""
    from dagster import DagsterInstance, materialize

    from eth_assets.models.profile_assets import investor_profiles
    from eth_assets.resources.simulated_source import SimulatedChainSource

    tracker = MlflowTracker(
        tracking_uri=f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}",
        artifact_root=str(folder / "mlflow" / "artifacts"),
        ui_url="http://mlflow.example:5000",
    )
    source = SimulatedChainSource(
        n_accounts=500, start_date="2021-01-01", days=20, work_dir=str(folder / "sim")
    )
    resources = resource_set(folder, source, tracker=tracker)
    instance = DagsterInstance.ephemeral()
    universe_file, held_out = universe_without_every_tenth(source, folder)
    small = {
        "address_universe": {"config": {"address_file": str(universe_file)}},
        "tsne_embedding": {"config": {"perplexity": 20.0}},
        "investor_profiles": {"config": {"k_max": 5}},
        "training_set": {"config": {"folds": 5}},
        "illicit_classifier": {"config": {"paper_table_folds": [3]}},
        "illicit_type_model": {"config": {"min_examples": 10, "folds": 3}},
    }
    first = materialize(
        graph_assets(),
        resources=resources,
        instance=instance,
        tags=GRAPH_RANGE,
        run_config={"ops": small},
    )
    assert first.success
    second = materialize(
        [investor_profiles],
        resources=resources,
        instance=instance,
        run_config={"ops": {"investor_profiles": small["investor_profiles"]}},
    )
    assert second.success
    checks = {
        e.check_name: e.passed
        for result in (first, second)
        for e in result.get_asset_check_evaluations()
    }
    return Graph(folder, instance, resources, tracker, checks, held_out)


# BigQuery faults: a query that never answers, and a client handing out the jobs it is given.


class HangingJob:
    """A QueryJob whose result never arrives until `release` is set (then an empty table)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.job_id = "job-hanging"
        self.total_bytes_billed = 0

    def to_arrow(self) -> pa.Table:
        self.release.wait(timeout=60)
        return pa.table({})


class JobsClient:
    """Records every query like FakeClient and returns the given job objects, in order."""

    def __init__(self, jobs: list[object]) -> None:
        self.jobs = jobs
        self.calls: list[tuple[str, object]] = []

    def query(self, sql: str, job_config: object = None) -> object:
        self.calls.append((sql, job_config))
        return self.jobs.pop(0)


# A service-account key that must never reach a log, an event or run storage.
PLANTED_KEY_MARKER = "FAKEKEY123-do-not-log-3f9a"
PLANTED_PRIVATE_KEY = (
    f"-----BEGIN PRIVATE KEY-----\n{PLANTED_KEY_MARKER}{'A' * 64}\n-----END PRIVATE KEY-----\n"
)


def write_planted_service_account(path: Path) -> Path:
    """A service-account JSON key file holding PLANTED_PRIVATE_KEY (not a usable key)."""
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "test-project",
                "private_key_id": "0123456789abcdef",
                "private_key": PLANTED_PRIVATE_KEY,
                "client_email": "extractor@test-project.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path
