"""Recomputing only the changed addresses gives the tables of a full recompute: on the simulated
chain over random pairs of cutoffs (with and without a token left out), on a hand-made case
where a counterparty becomes a contract while the address itself is silent, and through
address_features twice in Dagster (the second run recomputes only what changed; a rewritten
earlier day, a changed universe or another cutoff order recompute everything)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from eth_assets.chain.sim import SimConfig
from eth_assets.features.changed_addresses import StateRead, create_changed_tables
from eth_assets.features.feature_state import (
    concat_states,
    create_tables_from_state,
    register_excluded_tokens,
    register_state,
)
from eth_assets.features.feature_tables import register_market_gas
from eth_assets_tests.fixtures.hand_built import (
    ETH,
    TOK6,
    A,
    B,
    X,
    Y,
    history_connection,
    transfer,
    tx,
)
from eth_assets_tests.fixtures.state_cases import (
    SimDays,
    assert_same_features,
    busiest_token,
    day_state,
    leave_out,
    midnight,
    sim_connection,
    simulated_days,
)

SIM = SimConfig(seed=23, n_accounts=600, days=20)
TABLES = ("address_features", "behaviour_features", "address_activity")


@pytest.fixture(scope="module")
def sim_days() -> SimDays:
    return simulated_days(SIM)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_changed_addresses_give_the_full_recompute_on_the_simulated_chain(
    sim_days: SimDays, seed: int
) -> None:
    rng = random.Random(seed)
    con = sim_connection(sim_days)
    days = sorted(sim_days)
    states = {day: day_state(con, day) for day in days}
    busiest = busiest_token(con)
    excluded = [busiest] if seed % 2 else []
    leave_out(con, excluded)
    previous = rng.randrange(3, len(days) - 4)
    cut = previous + rng.randrange(1, 4)
    con.execute("ATTACH ':memory:' AS prev")
    register_excluded_tokens(con, excluded)
    register_state(con, concat_states([states[d] for d in days[:previous]]))
    create_tables_from_state(con, *(f"prev.main.{t}" for t in TABLES))
    register_state(con, concat_states([states[d] for d in days[:cut]]))
    create_tables_from_state(con, *(f"full_{t}" for t in TABLES))
    recomputed = create_changed_tables(con, "prev", days[previous])
    universe = con.execute("SELECT COUNT(*) FROM universe").fetchall()[0][0]
    print(f"recomputed {recomputed} of {universe}")
    assert 0 < recomputed < universe
    for table in TABLES:
        assert_same_features(con, f"full_{table}", table)


def test_may_follow_names_what_forces_a_full_recompute() -> None:
    t0, t1 = midnight(date(2021, 1, 5)), midnight(date(2021, 1, 6))
    now = StateRead(t1, "s", "u", ())
    then = StateRead(t0, "s0", "u", ())
    assert now.may_follow(then, "s0") is None
    assert now.may_follow(None, "") == "no previous tables"
    assert "moved back" in str(
        StateRead(t0, "s", "u", ()).may_follow(StateRead(t1, "s", "u", ()), "s")
    )
    assert now.may_follow(StateRead(t0, "s0", "other", ()), "s0") == "the universe changed"
    assert "tokens" in str(now.may_follow(StateRead(t0, "s0", "u", ("0xa",)), "s0"))
    assert "built again" in str(now.may_follow(then, "s0-rebuilt"))


def test_a_silent_sender_is_recomputed_when_its_token_counterparty_becomes_a_contract() -> None:
    """A sent a token to Y on the first day and is silent after; on the third day Y runs code
    for someone else (a call using more than 21,000 gas), so Y is a contract known at the new
    cutoff and A's sent-to-contract token features change though A has no new row."""
    transfers = [transfer("0xt1", 10, TOK6, A, Y, 5_000_000, "SIX", "Six", 6)]
    transactions = [
        tx("0xa1", 5, A, B, 1 * ETH),
        tx("0xx1", 2 * 1440 + 10, X, Y, 0, gas_used=50_000),
    ]
    con = history_connection(transactions, transfers, [A, B])
    register_market_gas(con, None)
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(3)]
    states = {day: day_state(con, day) for day in days}
    con.execute("ATTACH ':memory:' AS prev")
    register_excluded_tokens(con, [])
    register_state(con, concat_states([states[days[0]]]))
    create_tables_from_state(con, *(f"prev.main.{t}" for t in TABLES))
    register_state(con, concat_states(list(states.values())))
    create_tables_from_state(con, *(f"full_{t}" for t in TABLES))
    assert create_changed_tables(con, "prev", days[1]) == 1
    assert con.execute("SELECT address FROM changed_addresses").fetchall() == [(A,)]
    for table in TABLES:
        assert_same_features(con, f"full_{table}", table)
    changed = con.execute(
        "SELECT * FROM prev.main.address_features WHERE address = ? "
        "EXCEPT SELECT * FROM address_features WHERE address = ?",
        [A, A],
    ).fetchall()
    assert changed  # A's row differs from its previous one
