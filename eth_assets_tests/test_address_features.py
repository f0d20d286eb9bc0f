"""Tests of the address feature SQL: a hand-built history checked feature by feature, the sample
views, and agreement with the published Farrugia et al. (2020) features on the real sample."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eth_assets.farrugia import agreement_table, register_sample_views
from eth_assets.features import (
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    PUBLISHED_NAMES,
    create_address_features,
    feature_sql,
)
from eth_assets.schemas import TOKEN_TRANSFERS, TRANSACTIONS

T0 = datetime(2021, 1, 1, tzinfo=UTC)
AS_OF = datetime(2021, 1, 10, tzinfo=UTC)
ETH = 10**18
GWEI = 10**9


def _address(tag: str) -> str:
    """A lower-case 0x + 40 hex address made of one repeated byte."""
    return "0x" + tag * 20


A, B, C, D, E, F = (_address(t) for t in ("aa", "bb", "cc", "dd", "ee", "ff"))
X, Y, MINTER = _address("01"), _address("02"), _address("03")  # outside the universe
TOK6, TOK18, SCAM, UNK, PREC = (_address(t) for t in ("16", "18", "5c", "0f", "9e"))
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


AFTER = (AS_OF - T0).total_seconds() / 60  # the cutoff, in minutes after T0

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

NO_ETHER = {
    "avg_min_between_sent_tnx": 0.0, "avg_min_between_received_tnx": 0.0,
    "time_diff_between_first_and_last_mins": 0.0, "sent_tnx": 0, "received_tnx": 0,
    "number_of_created_contracts": 0, "unique_received_from_addresses": 0,
    "unique_sent_to_addresses": 0, "min_value_received": 0.0, "max_value_received": 0.0,
    "avg_val_received": 0.0, "min_val_sent": 0.0, "max_val_sent": 0.0, "avg_val_sent": 0.0,
    "min_value_sent_to_contract": 0.0, "max_val_sent_to_contract": 0.0,
    "avg_value_sent_to_contract": 0.0, "total_transactions": 0, "total_ether_sent": 0.0,
    "total_ether_received": 0.0, "total_ether_sent_contracts": 0.0, "total_ether_balance": 0.0,
    "sent_diff_between_max_and_min": 0.0, "balance_eth": 0.0,
}  # fmt: skip

NO_TOKENS = {
    "total_erc20_tnxs": 0, "erc20_total_ether_received": 0.0, "erc20_total_ether_sent": 0.0,
    "erc20_total_ether_sent_contract": 0.0, "erc20_uniq_sent_addr": 0, "erc20_uniq_rec_addr": 0,
    "erc20_uniq_sent_contract_addr": 0, "erc20_uniq_rec_contract_addr": 0,
    "erc20_avg_time_between_sent_tnx": 0.0, "erc20_avg_time_between_rec_tnx": 0.0,
    "erc20_avg_time_between_rec_2_tnx": 0.0, "erc20_avg_time_between_contract_tnx": 0.0,
    "erc20_min_val_rec": 0.0, "erc20_max_val_rec": 0.0, "erc20_avg_val_rec": 0.0,
    "erc20_min_val_sent": 0.0, "erc20_max_val_sent": 0.0, "erc20_avg_val_sent": 0.0,
    "erc20_min_val_sent_contract": 0.0, "erc20_max_val_sent_contract": 0.0,
    "erc20_avg_val_sent_contract": 0.0, "erc20_uniq_sent_token_name": 0,
    "erc20_uniq_rec_token_name": 0, "erc20_most_sent_token_type": None,
    "erc20_most_rec_token_type": None, "unique_tokens_held": 0, "unique_token_transfers": 0,
}  # fmt: skip

# Worked out by hand from the rows above (minutes after T0, ETH, token units).
EXPECTED: dict[str, dict[str, object]] = {
    # sent t1 t3 t4(failed) t5(self) t7 at 0..420; received t2 t5 t8 at 60..600
    A: {
        "avg_min_between_sent_tnx": 420 / 4, "avg_min_between_received_tnx": 540 / 2,
        "time_diff_between_first_and_last_mins": 600.0, "sent_tnx": 5, "received_tnx": 3,
        "number_of_created_contracts": 1, "unique_received_from_addresses": 3,  # B, A, X
        "unique_sent_to_addresses": 3,  # B, C, A
        "min_value_received": 0.1, "max_value_received": 4.0, "avg_val_received": 4.35 / 3,
        "min_val_sent": 0.1, "max_val_sent": 2.0, "avg_val_sent": 4.6 / 4,
        "min_value_sent_to_contract": 1.0, "max_val_sent_to_contract": 2.0,
        "avg_value_sent_to_contract": 1.5, "total_transactions": 7, "total_ether_sent": 4.6,
        "total_ether_received": 4.35, "total_ether_sent_contracts": 3.0,
        "total_ether_balance": -0.25, "sent_diff_between_max_and_min": 1.9,
        # fees: 21000*10 + 100000*10 + 30000*30 + 21000*10 + 50000*10 gwei = 0.00282 ETH
        "balance_eth": 4.35 - 4.6 - 0.00282,
        # tokens: in k1 k3 k6 k11 (30..550), out k2 k4 k7 k7' k11 (90..550)
        "total_erc20_tnxs": 8, "erc20_total_ether_received": S, "erc20_total_ether_sent": 6.6,
        "erc20_total_ether_sent_contract": 2.0, "erc20_uniq_sent_addr": 3,
        "erc20_uniq_rec_addr": 3, "erc20_uniq_sent_contract_addr": 2,
        "erc20_uniq_rec_contract_addr": 3, "erc20_avg_time_between_sent_tnx": 460 / 4,
        "erc20_avg_time_between_rec_tnx": 520 / 3, "erc20_avg_time_between_rec_2_tnx": 520 / 3,
        "erc20_avg_time_between_contract_tnx": 0.0, "erc20_min_val_rec": 0.1,
        "erc20_max_val_rec": S, "erc20_avg_val_rec": S / 4, "erc20_min_val_sent": 0.1,
        "erc20_max_val_sent": 3.0, "erc20_avg_val_sent": 6.6 / 5,
        "erc20_min_val_sent_contract": 2.0, "erc20_max_val_sent_contract": 2.0,
        "erc20_avg_val_sent_contract": 2.0, "erc20_uniq_sent_token_name": 2,
        "erc20_uniq_rec_token_name": 3, "erc20_most_sent_token_type": "USD Coin",
        "erc20_most_rec_token_type": "USD Coin",
        "unique_tokens_held": 2,  # USDC 2.5+0.1-1-0.5-0.1 = 1, SCAM; DAI 5-2-3 = 0
        "unique_token_transfers": 7,
    },
    # sent t2 t6 t10 at 60..720; received t1 at 0
    B: {
        "avg_min_between_sent_tnx": 660 / 2, "avg_min_between_received_tnx": 0.0,
        "time_diff_between_first_and_last_mins": 720.0, "sent_tnx": 3, "received_tnx": 1,
        "number_of_created_contracts": 0, "unique_received_from_addresses": 1,
        "unique_sent_to_addresses": 3, "min_value_received": 1.5, "max_value_received": 1.5,
        "avg_val_received": 1.5, "min_val_sent": 0.2, "max_val_sent": 3.0,
        "avg_val_sent": 3.45 / 3, "min_value_sent_to_contract": 0.2,
        "max_val_sent_to_contract": 0.2, "avg_value_sent_to_contract": 0.2,
        "total_transactions": 4, "total_ether_sent": 3.45, "total_ether_received": 1.5,
        "total_ether_sent_contracts": 0.2, "total_ether_balance": -1.95,
        "sent_diff_between_max_and_min": 2.8, "balance_eth": 1.5 - 3.45 - 0.00082,
        "total_erc20_tnxs": 3, "erc20_total_ether_received": 4.5, "erc20_total_ether_sent": 0.0,
        "erc20_total_ether_sent_contract": 0.0, "erc20_uniq_sent_addr": 0,
        "erc20_uniq_rec_addr": 1, "erc20_uniq_sent_contract_addr": 0,
        "erc20_uniq_rec_contract_addr": 2, "erc20_avg_time_between_sent_tnx": 0.0,
        "erc20_avg_time_between_rec_tnx": 360 / 2, "erc20_avg_time_between_rec_2_tnx": 360 / 2,
        "erc20_avg_time_between_contract_tnx": 0.0, "erc20_min_val_rec": 0.5,
        "erc20_max_val_rec": 3.0, "erc20_avg_val_rec": 1.5, "erc20_min_val_sent": 0.0,
        "erc20_max_val_sent": 0.0, "erc20_avg_val_sent": 0.0,
        "erc20_min_val_sent_contract": 0.0, "erc20_max_val_sent_contract": 0.0,
        "erc20_avg_val_sent_contract": 0.0, "erc20_uniq_sent_token_name": 0,
        "erc20_uniq_rec_token_name": 2, "erc20_most_sent_token_type": None,
        "erc20_most_rec_token_type": "USD Coin", "unique_tokens_held": 2,
        "unique_token_transfers": 2,
    },
    # created by t3 at 120 with 2 ETH; received t4 (failed) t7 t10 at 180..720
    C: {
        **NO_ETHER,
        "avg_min_between_received_tnx": 540 / 2, "time_diff_between_first_and_last_mins": 600.0,
        "received_tnx": 3, "unique_received_from_addresses": 2, "min_value_received": 0.2,
        "max_value_received": 1.0, "avg_val_received": 0.6, "total_transactions": 4,
        "total_ether_received": 1.2, "total_ether_balance": 1.2, "balance_eth": 1.2 + 2.0,
        **NO_TOKENS,
        "total_erc20_tnxs": 1, "erc20_total_ether_received": 2.0, "erc20_uniq_rec_addr": 1,
        "erc20_uniq_rec_contract_addr": 1, "erc20_min_val_rec": 2.0, "erc20_max_val_rec": 2.0,
        "erc20_avg_val_rec": 2.0, "erc20_uniq_rec_token_name": 1,
        "erc20_most_rec_token_type": "Dai", "unique_tokens_held": 1, "unique_token_transfers": 1,
    },
    # only incoming: t6 at 300, t13 at 800; tokens k9 (decimals unknown) at 500, k12 at 510
    D: {
        **NO_ETHER,
        "avg_min_between_received_tnx": 500.0, "time_diff_between_first_and_last_mins": 500.0,
        "received_tnx": 2, "unique_received_from_addresses": 2, "min_value_received": 1.0,
        "max_value_received": 3.0, "avg_val_received": 2.0, "total_transactions": 2,
        "total_ether_received": 4.0, "total_ether_balance": 4.0, "balance_eth": 4.0,
        **NO_TOKENS,
        "total_erc20_tnxs": 2, "erc20_total_ether_received": 1.0, "erc20_uniq_rec_addr": 1,
        "erc20_uniq_rec_contract_addr": 2, "erc20_avg_time_between_rec_tnx": 10.0,
        "erc20_avg_time_between_rec_2_tnx": 10.0, "erc20_min_val_rec": 1.0,
        "erc20_max_val_rec": 1.0, "erc20_avg_val_rec": 1.0, "erc20_uniq_rec_token_name": 2,
        "erc20_most_rec_token_type": "Dai",  # tie with "Zeta": the smaller name wins
        "unique_tokens_held": 2, "unique_token_transfers": 2,
    },
    E: {**NO_ETHER, **NO_TOKENS},  # its only transaction is at the cutoff
    # tokens only: in p1 (V1+V2) at 20, s1 at 60; out p2 (V1) at 40, p3 (V2) at 50, s2 at 100
    F: {
        **NO_ETHER,
        **NO_TOKENS,
        "total_erc20_tnxs": 5, "erc20_total_ether_received": S, "erc20_total_ether_sent": S,
        "erc20_uniq_sent_addr": 1, "erc20_uniq_rec_addr": 1, "erc20_uniq_sent_contract_addr": 2,
        "erc20_uniq_rec_contract_addr": 2, "erc20_avg_time_between_sent_tnx": 60 / 2,
        "erc20_avg_time_between_rec_tnx": 40.0, "erc20_avg_time_between_rec_2_tnx": 40.0,
        "erc20_min_val_rec": 1111.111110111111111010, "erc20_max_val_rec": S,
        "erc20_avg_val_rec": S / 2, "erc20_min_val_sent": 123.456789012345678901,
        "erc20_max_val_sent": S, "erc20_avg_val_sent": S / 3, "erc20_uniq_sent_token_name": 2,
        "erc20_uniq_rec_token_name": 2, "erc20_most_sent_token_type": "Precise",
        "erc20_most_rec_token_type": "Precise",  # tie with "ScamToken"
        "unique_tokens_held": 0,  # exact: V1+V2-V1-V2 = 0 (DOUBLE would say 131072 units)
        "unique_token_transfers": 5,
    },
}  # fmt: skip


def _create_table(con: duckdb.DuckDBPyConnection, name: str, columns, rows: list[tuple]) -> None:
    """A table with the schema's columns and types, filled with `rows`."""
    con.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {t}' for c, t in columns)})").fetchall()
    if rows:
        marks = ", ".join("?" for _ in columns)
        con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)


@pytest.fixture(scope="module")
def hand_built() -> dict[str, dict[str, object]]:
    """Features of the hand-built history, one dict per address."""
    con = duckdb.connect()
    _create_table(con, "transactions", TRANSACTIONS.columns, TRANSACTIONS_ROWS)
    _create_table(con, "token_transfers", TOKEN_TRANSFERS.columns, TOKEN_ROWS)
    _create_table(con, "universe", [("address", "VARCHAR")], [(a,) for a in UNIVERSE])
    assert create_address_features(con, AS_OF, table="features") == len(UNIVERSE)
    frame = con.sql("SELECT * FROM features").df()
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return {row.pop("address"): row for row in rows}


def test_output_columns_are_the_feature_list(hand_built: dict[str, dict[str, object]]) -> None:
    """Every feature column, in FEATURE_COLUMNS order, and a published name for each one."""
    assert list(next(iter(hand_built.values()))) == FEATURE_COLUMNS
    assert set(PUBLISHED_NAMES) | {
        "sent_diff_between_max_and_min",
        "balance_eth",
        "unique_tokens_held",
        "unique_token_transfers",
    } == set(FEATURE_COLUMNS)


@pytest.mark.parametrize("address", UNIVERSE)
def test_every_feature_matches_the_hand_computed_value(
    hand_built: dict[str, dict[str, object]], address: str
) -> None:
    """Each feature of each address equals the value worked out by hand."""
    got, want = hand_built[address], EXPECTED[address]
    assert set(want) == set(FEATURE_COLUMNS)
    for column in FEATURE_COLUMNS:
        if isinstance(want[column], float):
            assert got[column] == pytest.approx(want[column], rel=1e-9, abs=1e-12), column
        else:
            assert got[column] == want[column], column


def test_no_missing_values_except_token_names(hand_built: dict[str, dict[str, object]]) -> None:
    """Counts and amounts are never NULL, even for an address without any history."""
    for row in hand_built.values():
        for column in FEATURE_COLUMNS:
            assert column in CATEGORICAL_COLUMNS or row[column] is not None, column


def test_naive_cutoff_is_taken_as_utc() -> None:
    """A naive as_of means UTC, so a row exactly at it is excluded either way."""
    con = duckdb.connect()
    _create_table(con, "transactions", TRANSACTIONS.columns, TRANSACTIONS_ROWS)
    _create_table(con, "token_transfers", TOKEN_TRANSFERS.columns, [])
    _create_table(con, "universe", [("address", "VARCHAR")], [(E,)])
    create_address_features(con, AS_OF.replace(tzinfo=None))
    assert con.execute("SELECT received_tnx FROM address_features").fetchall() == [(0,)]


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
    con = duckdb.connect()
    _create_table(con, "transactions", TRANSACTIONS.columns, [])
    _create_table(con, "token_transfers", TOKEN_TRANSFERS.columns, rows)
    _create_table(con, "universe", [("address", "VARCHAR")], [(h,) for h in holders])
    return con, holders


def test_tokens_held_are_decided_on_exact_uint256_balances() -> None:
    """`unique_tokens_held` counts a token when its exact raw balance is positive, whatever the
    length of the values and however a DOUBLE sum of them would round."""
    con, holders = held_cases_connection()
    create_address_features(con, AS_OF)
    held = dict(con.execute("SELECT address, unique_tokens_held FROM address_features").fetchall())
    for (values, positive), holder in zip(HELD_CASES, holders, strict=True):
        assert (sum(values) > 0) is positive  # the case's expectation is the exact balance
        assert held[holder] == int(positive), values


def _write_sample(folder: Path) -> None:
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


def test_sample_views_have_the_schema_columns(tmp_path: Path) -> None:
    """The sample views map the Parquet files onto the schema and keep in-subset accounts."""
    _write_sample(tmp_path)
    con = duckdb.connect()
    register_sample_views(con, tmp_path)
    for table in (TRANSACTIONS, TOKEN_TRANSFERS):
        described = con.execute(f"DESCRIBE {table.name}").fetchall()
        types = [
            (row[0], row[1].replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")) for row in described
        ]
        assert types == list(table.columns)
    assert con.execute("SELECT * FROM universe").fetchall() == [(A,)]
    assert con.execute("SELECT token_decimals FROM token_transfers").fetchall() == [(6,)]
    assert create_address_features(con, at(1)) == 1


# Agreement with Complete.csv measured with as_of 2019-04-25 (docs/features.md): each floor is
# the measured share of accounts equal within 1e-6 relative minus half a point, rounded down.
AGREEMENT_FLOORS: dict[str, float] = {
    "avg_min_between_sent_tnx": 0.489,
    "avg_min_between_received_tnx": 0.342,
    "time_diff_between_first_and_last_mins": 0.988,
    "sent_tnx": 0.984,
    "received_tnx": 0.984,
    "number_of_created_contracts": 0.862,
    "unique_received_from_addresses": 0.993,
    "unique_sent_to_addresses": 0.991,
    "min_value_received": 0.992,
    "max_value_received": 0.992,
    "avg_val_received": 0.975,
    "min_val_sent": 0.993,
    "max_val_sent": 0.994,
    "avg_val_sent": 0.956,
    "min_value_sent_to_contract": 0.958,
    "max_val_sent_to_contract": 0.898,
    "avg_value_sent_to_contract": 0.915,
    "total_transactions": 0.978,
    "total_ether_sent": 0.977,
    "total_ether_received": 0.977,
    "total_ether_sent_contracts": 0.895,
    "total_ether_balance": 0.972,
    "total_erc20_tnxs": 0.988,
    "erc20_total_ether_received": 0.811,
    "erc20_total_ether_sent": 0.940,
    "erc20_total_ether_sent_contract": 0.964,
    "erc20_uniq_sent_addr": 0.994,
    "erc20_uniq_rec_addr": 0.994,
    "erc20_uniq_sent_contract_addr": 0.894,
    "erc20_uniq_rec_contract_addr": 0.994,
    "erc20_avg_time_between_sent_tnx": 0.924,
    "erc20_avg_time_between_rec_tnx": 0.735,
    "erc20_avg_time_between_rec_2_tnx": 0.735,
    "erc20_avg_time_between_contract_tnx": 0.977,
    "erc20_min_val_rec": 0.824,
    "erc20_max_val_rec": 0.887,
    "erc20_avg_val_rec": 0.811,
    "erc20_min_val_sent": 0.943,
    "erc20_max_val_sent": 0.965,
    "erc20_avg_val_sent": 0.940,
    "erc20_min_val_sent_contract": 0.968,
    "erc20_max_val_sent_contract": 0.965,
    "erc20_avg_val_sent_contract": 0.965,
    "erc20_uniq_sent_token_name": 0.992,
    "erc20_uniq_rec_token_name": 0.989,
    "erc20_most_sent_token_type": 0.974,
    "erc20_most_rec_token_type": 0.819,
}

REAL_AS_OF = datetime(2019, 4, 25, tzinfo=UTC)


@pytest.fixture(scope="module")
def real_agreement(shared_data: Path):
    """Agreement table of our features with Complete.csv on the real sample."""
    raw = shared_data / "raw_txns"
    published = shared_data / "farrugia2020" / "Complete.csv"
    if not (raw / "transactions.parquet").is_file() or not published.is_file():
        pytest.skip(f"real sample or Complete.csv missing under {shared_data}")
    con = duckdb.connect()
    register_sample_views(con, raw)
    create_address_features(con, REAL_AS_OF)
    features = con.sql("SELECT * FROM address_features").df()
    return agreement_table(features, published).set_index("feature")


def test_real_sample_counts_match_the_published_ones(real_agreement) -> None:
    """Sent and received counts equal the published ones for at least 98 % of the accounts."""
    assert real_agreement["accounts"].iloc[0] > 4000
    assert real_agreement.loc["sent_tnx", "equal"] >= 0.98
    assert real_agreement.loc["received_tnx", "equal"] >= 0.98


@pytest.mark.parametrize("feature", list(PUBLISHED_NAMES))
def test_real_sample_agreement_floor(real_agreement, feature: str) -> None:
    """Each feature agrees with the published one at least as often as measured."""
    assert real_agreement.loc[feature, "equal"] >= AGREEMENT_FLOORS[feature]


def test_sql_transpiles_to_bigquery() -> None:
    """The query parses as DuckDB and sqlglot writes it as BigQuery with a named parameter."""
    sqlglot = pytest.importorskip("sqlglot")
    bigquery = sqlglot.transpile(feature_sql(), read="duckdb", write="bigquery", comments=False)[0]
    assert "@as_of" in bigquery
    assert "$as_of" not in bigquery
