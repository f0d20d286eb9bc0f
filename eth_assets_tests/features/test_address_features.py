"""The address feature SQL on a hand-built history, checked feature by feature, and exact
uint256 token balances (the history is in eth_assets_tests.fixtures)."""

from __future__ import annotations

import pytest

from eth_assets.features.feature_tables import (
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    PUBLISHED_NAMES,
    create_address_features,
    feature_sql,
)
from eth_assets_tests.fixtures import (
    HELD_CASES,
    HISTORY_AS_OF,
    TOKEN_ROWS,
    TRANSACTIONS_ROWS,
    UNIVERSE,
    A,
    B,
    C,
    D,
    E,
    F,
    S,
    held_cases_connection,
    history_connection,
)

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


@pytest.fixture(scope="module")
def hand_built() -> dict[str, dict[str, object]]:
    """Features of the hand-built history, one dict per address."""
    con = history_connection(TRANSACTIONS_ROWS, TOKEN_ROWS, UNIVERSE)
    assert create_address_features(con, HISTORY_AS_OF, table="features") == len(UNIVERSE)
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
    con = history_connection(TRANSACTIONS_ROWS, [], [E])
    create_address_features(con, HISTORY_AS_OF.replace(tzinfo=None))
    assert con.execute("SELECT received_tnx FROM address_features").fetchall() == [(0,)]


def test_tokens_held_are_decided_on_exact_uint256_balances() -> None:
    """`unique_tokens_held` counts a token when its exact raw balance is positive, whatever the
    length of the values and however a DOUBLE sum of them would round."""
    con, holders = held_cases_connection()
    create_address_features(con, HISTORY_AS_OF)
    held = dict(con.execute("SELECT address, unique_tokens_held FROM address_features").fetchall())
    for (values, positive), holder in zip(HELD_CASES, holders, strict=True):
        assert (sum(values) > 0) is positive  # the case's expectation is the exact balance
        assert held[holder] == int(positive), values


def test_sql_transpiles_to_bigquery() -> None:
    """The query parses as DuckDB and sqlglot writes it as BigQuery with a named parameter."""
    sqlglot = pytest.importorskip("sqlglot")
    bigquery = sqlglot.transpile(feature_sql(), read="duckdb", write="bigquery", comments=False)[0]
    assert "@as_of" in bigquery
    assert "$as_of" not in bigquery
