"""The behaviour features on a history small enough to compute by hand."""

from __future__ import annotations

import math

import pytest

from eth_assets.features.feature_tables import BEHAVIOUR_COLUMNS, create_behaviour_features
from eth_assets_tests.fixtures import ETH, GWEI, HISTORY_AS_OF, A, B, C, X, history_connection, tx

# Day 1 (2021-01-01): X pays A 1 ETH at 01:00; A pays B 0.5 ETH at 02:00 (20 gwei) and calls C
# with no ether at 03:00 (30 gwei, 50,000 gas). Day 2, 01:00: A's failed payment to B of an
# unround amount (10 gwei, 30,000 gas). Every transaction has a gas limit of 100,000.
ROWS = [
    tx("0x1", 60, X, A, ETH, price=10 * GWEI),
    tx("0x2", 120, A, B, ETH // 2, price=20 * GWEI),
    tx("0x3", 180, A, C, 0, price=30 * GWEI, gas_used=50_000),
    tx("0x4", 1500, A, B, 123_456_789, price=10 * GWEI, gas_used=30_000, status=0),
    tx("0x5", 24 * 60 * 20, A, B, ETH),  # after the cutoff: never counted
]


@pytest.fixture(scope="module")
def features() -> dict[str, dict[str, float]]:
    con = history_connection(ROWS, [], [A, B, C])
    create_behaviour_features(con, HISTORY_AS_OF, "behaviour")
    frame = con.sql("SELECT * FROM behaviour").pl()
    assert frame.columns == ["address", *BEHAVIOUR_COLUMNS]
    return {row.pop("address"): row for row in frame.iter_rows(named=True)}


def test_how_a_sends(features: dict[str, dict[str, float]]) -> None:
    a = features[A]
    assert a["failed_sent_share"] == pytest.approx(1 / 3)
    assert a["contract_call_share"] == pytest.approx(2 / 3)  # gas used above 21,000
    assert a["zero_value_sent_share"] == pytest.approx(1 / 3)
    assert a["round_value_sent_share"] == pytest.approx(1 / 2)  # 0.5 ETH yes, 123456789 wei no
    assert a["round_value_received_share"] == 1.0
    # day medians: 20 gwei on day 1 (10, 20, 30), 10 gwei on day 2 → (1 + 1.5 + 1) / 3
    assert a["gas_price_vs_day"] == pytest.approx(3.5 / 3)
    assert a["gas_price_cv"] == pytest.approx(math.sqrt(200 / 3) / 20)
    assert a["distinct_gas_price_share"] == 1.0
    assert a["gas_used_ratio"] == pytest.approx((0.21 + 0.5 + 0.3) / 3)


def test_how_activity_spreads_over_time(features: dict[str, dict[str, float]]) -> None:
    a = features[A]
    assert a["active_days"] == 2
    assert a["busiest_day_share"] == 0.75
    assert a["hour_entropy"] == pytest.approx(1.5)  # hours 1, 2, 3, 1
    assert a["first_received_to_first_sent_mins"] == 60


def test_counterparties_activity(features: dict[str, dict[str, float]]) -> None:
    assert features[A]["median_sender_activity"] == 1  # X sent one transaction
    assert features[A]["median_recipient_activity"] == 1.5  # B received 2, C 1
    assert features[B]["median_sender_activity"] == 3  # A sent three


def test_an_address_that_only_receives_or_is_idle(features: dict[str, dict[str, float]]) -> None:
    b = features[B]
    assert b["failed_sent_share"] == 0 and b["gas_price_vs_day"] == 0
    assert b["first_received_to_first_sent_mins"] == 0
    assert b["round_value_received_share"] == 0.5
    assert b["active_days"] == 2 and b["hour_entropy"] == pytest.approx(1.0)
    c = features[C]
    assert c["active_days"] == 1 and c["median_recipient_activity"] == 0
