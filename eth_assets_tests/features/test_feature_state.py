"""The features from the per-day state equal the full-history SQL: on the hand-built history, on
the simulated chain over random cutoffs and day orders (a day rewritten, a day deleted), and on
the real sample as of 2019-04-25, the lake's end and a cutoff inside a day."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from eth_assets.chain.sim import SimConfig
from eth_assets.common.duckdb_utils import connect
from eth_assets.features.farrugia import register_sample_views
from eth_assets.features.feature_state import (
    STATE_TABLES,
    build_state,
    concat_states,
    cutoff_windows,
    features_from_state,
    register_state,
)
from eth_assets.features.feature_tables import (
    create_address_activity,
    create_address_features,
    create_behaviour_features,
    register_market_gas,
)
from eth_assets.labels.label_broadcast import (
    detect_label_broadcast_tokens,
    detect_label_broadcast_tokens_from_state,
)
from eth_assets.labels.label_files import read_label_files
from eth_assets.resources.chain_sources import SHARED_LABEL_FILES
from eth_assets.settings import DEFAULT_LABEL_BROADCAST_TOKENS
from eth_assets_tests.fixtures import HISTORY_AS_OF
from eth_assets_tests.fixtures.hand_built import (
    history_state_connection,
)
from eth_assets_tests.fixtures.state_cases import (
    SimDays,
    State,
    assert_same_features,
    before,
    busiest_token,
    day_state,
    leave_out,
    midnight,
    sim_connection,
    simulated_days,
)


def compare_at(
    con: duckdb.DuckDBPyConnection, as_of: datetime, state: State, excluded: Sequence[str] = ()
) -> None:
    """The full-history features as of `as_of` (over `con`'s views, which leave out `excluded`)
    against those from `state` (of every token) with `excluded` left out."""
    create_address_features(con, as_of, "reference_features")
    create_behaviour_features(con, as_of, "reference_behaviour")
    create_address_activity(con, as_of, "reference_activity")
    features_from_state(con, state, "state_features", "state_behaviour", excluded, "state_activity")
    assert_same_features(con, "reference_features", "state_features")
    assert_same_features(con, "reference_behaviour", "state_behaviour")
    assert_same_features(con, "reference_activity", "state_activity")


def test_cutoff_windows_are_whole_days_then_the_cutoffs_day() -> None:
    as_of = datetime(2021, 1, 3, 6, 30, tzinfo=UTC)
    windows = cutoff_windows(datetime(2021, 1, 1, 17, tzinfo=UTC), as_of)
    assert [(a.isoformat(), b.isoformat()) for a, b in windows] == [
        ("2021-01-01T00:00:00+00:00", "2021-01-02T00:00:00+00:00"),
        ("2021-01-02T00:00:00+00:00", "2021-01-03T00:00:00+00:00"),
        ("2021-01-03T00:00:00+00:00", "2021-01-03T06:30:00+00:00"),
    ]
    assert cutoff_windows(datetime(2021, 1, 1, tzinfo=UTC), midnight(date(2021, 1, 2))) == [
        (midnight(date(2021, 1, 1)), midnight(date(2021, 1, 2)))
    ]
    with pytest.raises(ValueError, match="must end after it starts"):
        build_state(connect(), as_of, as_of)


def test_hand_built_history() -> None:
    """Every edge the feature tests build by hand (failed and pre-Byzantium transactions,
    creations, self-transfers, 77-digit token amounts, unknown decimals, rows after the cutoff)."""
    con, first = history_state_connection()
    state = concat_states([build_state(con, a, b) for a, b in cutoff_windows(first, HISTORY_AS_OF)])
    compare_at(con, HISTORY_AS_OF, state)


# The simulated chain: a month of a small chain, its days given to the state one at a time.
SIM = SimConfig(seed=11, n_accounts=800, days=24)


@pytest.fixture(scope="module")
def sim_days() -> SimDays:
    return simulated_days(SIM)


@pytest.mark.parametrize("seed", [0, 1])
def test_simulated_chain_over_random_cutoffs_and_day_orders(sim_days: SimDays, seed: int) -> None:
    rng = random.Random(seed)
    con = sim_connection(sim_days)
    order = list(sim_days)
    rng.shuffle(order)
    states = {day: day_state(con, day) for day in order}  # built out of order
    # leave out a token with many transfers on one run in two (the state holds every token)
    busiest = busiest_token(con)
    for excluded in ((), (busiest,)):
        cut_day = rng.choice(list(sim_days)[1:])
        as_of = midnight(cut_day) + timedelta(seconds=rng.choice([0, rng.randrange(86_400)]))
        parts = [states[d] for d in order if d < cut_day]
        if as_of > midnight(cut_day):
            parts.append(build_state(con, midnight(cut_day), as_of))
        leave_out(con, excluded)
        compare_at(con, as_of, concat_states(parts), excluded)
        leave_out(con, ())


def test_a_rewritten_and_a_deleted_day_change_only_their_state(
    sim_days: SimDays,
) -> None:
    """Rebuilding the state of the rewritten day and dropping that of the deleted one gives the
    features of the changed history; every other day's state is kept as it was."""
    con = sim_connection(sim_days)
    states = {day: day_state(con, day) for day in sim_days}
    days = list(sim_days)
    rewritten, deleted = days[5], days[11]
    changed = dict(sim_days)
    changed[rewritten] = {
        name: table.filter(pa.array([i % 2 == 0 for i in range(table.num_rows)]))
        for name, table in sim_days[rewritten].items()
    }
    del changed[deleted]
    con = sim_connection(changed)
    states[rewritten] = day_state(con, rewritten)
    del states[deleted]
    as_of = midnight(days[-1] + timedelta(days=1))
    compare_at(con, as_of, concat_states(list(states.values())))
    # and the stale state of the rewritten day would not have matched
    stale = dict(states)
    stale[rewritten] = day_state(sim_connection(sim_days), rewritten)
    features_from_state(con, concat_states(list(stale.values())), "stale", None)
    with pytest.raises(AssertionError):
        assert_same_features(con, "reference_features", "stale")


# On the real sample (../shared/data; skipped without it).
SAMPLE_CUTOFF = datetime(2019, 4, 25, tzinfo=UTC)
SAMPLE_END = datetime(2022, 11, 16, tzinfo=UTC)  # the day after the sample's last day


BRIEF_BLOCKWELL = "0xb84f655d4aad12b3533218ffeeb1e90e16439217"  # detected on the sample
SAMPLE_EXCLUDED = (*DEFAULT_LABEL_BROADCAST_TOKENS, BRIEF_BLOCKWELL)


@pytest.fixture(scope="module")
def sample(
    shared_data: Path,
) -> tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection, State]:
    """The real sample's views with every token (what the state reads) and with the
    label-broadcast tokens left out (what the reference reads), and its state over the whole
    lake, built in one window (a backfill)."""
    raw = shared_data / "raw_txns"
    if not (raw / "transactions.parquet").is_file():
        pytest.skip(f"real sample missing: {raw / 'transactions.parquet'}")
    every_token, reference = connect(), connect()
    register_sample_views(every_token, raw)
    register_sample_views(reference, raw, SAMPLE_EXCLUDED)
    for con in (every_token, reference):
        register_market_gas(con, None)
    state = build_state(every_token, datetime(2015, 7, 30, tzinfo=UTC), SAMPLE_END)
    return every_token, reference, state


@pytest.mark.e2e  # the whole real sample
@pytest.mark.parametrize(
    "as_of",
    [SAMPLE_CUTOFF, SAMPLE_END, datetime(2018, 3, 7, 13, 45, 10, tzinfo=UTC)],
    ids=["farrugia-cutoff", "lake-end", "inside-a-day"],
)
def test_real_sample(
    sample: tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection, State], as_of: datetime
) -> None:
    every_token, reference, state = sample
    day = as_of.date()
    parts = [before(state, day)]
    if as_of > midnight(day):
        parts.append(build_state(every_token, midnight(day), as_of))
    assert set(parts[0]) == set(STATE_TABLES)
    compare_at(reference, as_of, concat_states(parts), SAMPLE_EXCLUDED)


@pytest.mark.e2e  # the whole real sample
def test_label_broadcast_detection_from_the_state(
    sample: tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection, State],
    shared_data: Path,
) -> None:
    """The detection over the state (every token) gives the evidence and flags of the detection
    over the raw transfers, as of 2019-04-25 and the lake's end."""
    every_token, _, state = sample
    files = [shared_data / "labels" / name for name in SHARED_LABEL_FILES]
    labels = read_label_files(files).labels.select("address").unique()
    every_token.register("label_frame", labels.to_arrow())
    for as_of in (SAMPLE_CUTOFF, SAMPLE_END):
        expected = detect_label_broadcast_tokens(
            every_token, "SELECT address FROM label_frame", as_of
        )
        register_state(every_token, before(state, as_of.date()))
        got = detect_label_broadcast_tokens_from_state(
            every_token, "SELECT address FROM label_frame"
        )
        assert got.columns == expected.columns
        assert got.dtypes == expected.dtypes
        assert got.equals(expected), (as_of, got.head(), expected.head())
        assert got.filter(pl.col("flagged")).height >= 1
