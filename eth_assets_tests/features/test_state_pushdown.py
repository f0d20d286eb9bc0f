"""The feature state inside BigQuery: the same queries transpiled (same results, round-tripped
through BigQuery's dialect), a night that reads one day's partitions plus the state (checked on
the faked client's recorded queries), a first run that builds the state in bounded windows, and
the state dataset as a setting."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pyarrow as pa
import pytest
import sqlglot
from dagster import DagsterInstance, materialize

from eth_assets.common.chain_time import GENESIS_DATE
from eth_assets.common.sql_files import load_sql
from eth_assets.features.feature_assets import address_features
from eth_assets.features.feature_state import (
    ADDRESS_ACTIVITY_FROM_STATE,
    ADDRESS_FEATURES_FROM_STATE,
    STATE_QUERIES,
    build_state,
    concat_states,
    cutoff_windows,
    register_excluded_tokens,
    register_state,
    runs_of_days,
)
from eth_assets.features.pushdown import bigquery_to_duckdb, round_trip_to_duckdb
from eth_assets.features.state_pushdown import (
    MARKET_GAS_SQL,
    MAX_DAYS_PER_SCRIPT,
    PUSHED_STATE_TABLES,
    HeldDay,
    days_missing,
    features_from_state_sql,
    rewritten_lake_days,
    state_script,
)
from eth_assets.features.state_store import lake_days
from eth_assets.resources.bigquery_source import BigQueryChainSource
from eth_assets.settings import BQ_STATE_DATASET_ENV
from eth_assets_tests.fixtures import ALICE, BOB, HISTORY_AS_OF, FakeBigQuery, FakeClient
from eth_assets_tests.fixtures.hand_built import (
    TOKEN_ROWS,
    TRANSACTIONS_ROWS,
    UNIVERSE,
    history_state_connection,
    write_history_lake,
)

DATASET = "bigquery-public-data.crypto_ethereum"
STATE = "my-project.eth_assets_state"
RAW_TABLES = ("transactions", "token_transfers")
NIGHT = date(2019, 4, 24)  # the night that makes the features as of 2019-04-25


def frame(con, sql: str, params: dict | None = None) -> pl.DataFrame:
    table = con.sql(sql, params=params or {}).pl()
    return table.sort(table.columns, nulls_last=True)


def assert_same_frames(local: pl.DataFrame, pushed: pl.DataFrame, what: str) -> None:
    """Same columns and rows; floats to 1e-9 relative, other values exactly (DuckDB reads the
    round trip's COUNTIF back as a 128-bit integer, BigQuery gives INT64: compared as text)."""
    assert pushed.columns == local.columns, what
    assert pushed.height == local.height, what
    for column in local.columns:
        a, b = local[column], pushed[column]
        assert a.is_null().equals(b.is_null()), (what, column)
        if a.dtype.is_float():
            assert ((a - b).abs() <= 1e-9 * a.abs() + 1e-12).fill_null(True).all(), (what, column)
        else:
            assert a.cast(pl.Utf8).equals(b.cast(pl.Utf8)), (what, column)


def test_the_state_queries_mean_the_same_in_bigquery() -> None:
    """Each state query, transpiled to BigQuery and back, gives the same rows on the hand-built
    history (every edge: failed transactions, creations, 77-digit token amounts)."""
    con, first = history_state_connection()
    params = {"start": first, "end": HISTORY_AS_OF}
    for table, query in STATE_QUERIES.items():
        local = frame(con, load_sql(query), params)
        pushed = frame(con, round_trip_to_duckdb(load_sql(query)), params)
        assert local.height > 0, table
        assert_same_frames(local, pushed, table)


def test_the_features_from_the_state_mean_the_same_in_bigquery() -> None:
    con, first = history_state_connection()
    state = concat_states([build_state(con, a, b) for a, b in cutoff_windows(first, HISTORY_AS_OF)])
    register_state(con, state)
    register_excluded_tokens(con, [])
    for query in (ADDRESS_FEATURES_FROM_STATE, ADDRESS_ACTIVITY_FROM_STATE):
        local = frame(con, load_sql(query))
        pushed = frame(con, round_trip_to_duckdb(load_sql(query)))
        assert local.height == len(UNIVERSE)
        assert_same_frames(local, pushed, query)


def test_the_composed_bigquery_queries_read_the_stored_state_as_locally() -> None:
    """The queries the engine sends (state relations over the state dataset, filtered to the
    universe and the days before the cutoff), read back into DuckDB over a copy of the state
    held under the same names, give the local features."""
    con, first = history_state_connection()
    state = concat_states([build_state(con, a, b) for a, b in cutoff_windows(first, HISTORY_AS_OF)])
    register_state(con, state)
    register_excluded_tokens(con, [])
    project, dataset = STATE.split(".")
    con.execute(f"ATTACH ':memory:' AS \"{project}\"")
    con.execute(f'CREATE SCHEMA "{project}".{dataset}')
    for table in PUSHED_STATE_TABLES:  # with a later day that the cutoff must leave out
        con.execute(f'CREATE TABLE "{project}".{dataset}.{table} AS SELECT * FROM {table}')
    con.execute(
        f'INSERT INTO "{project}".{dataset}.state_ether SELECT * REPLACE '
        "(CAST(? AS DATE) AS day) FROM state_ether",
        [HISTORY_AS_OF.date()],
    )
    params = {"as_of": HISTORY_AS_OF, "addresses": UNIVERSE[:4], "excluded_tokens": []}
    con.execute(
        "CREATE OR REPLACE TEMP TABLE universe AS SELECT unnest(?) AS address", [UNIVERSE[:4]]
    )
    for query in (ADDRESS_FEATURES_FROM_STATE, ADDRESS_ACTIVITY_FROM_STATE):
        local = frame(con, load_sql(query))
        sent = features_from_state_sql(query, DATASET, STATE, partial_day=False)
        pushed = frame(con, bigquery_to_duckdb(sent), params)
        assert local.height == 4
        assert_same_frames(local, pushed, query)


def test_the_market_gas_price_is_the_days_average_as_locally() -> None:
    con, _ = history_state_connection()
    pushed = sqlglot.transpile(MARKET_GAS_SQL, read="bigquery", write="duckdb")[0]
    local = frame(con, "SELECT day, gas_price FROM market_gas_price")
    assert frame(con, pushed).equals(local)


def raw_scans(sql: str) -> list[str]:
    """The text after every reference to a raw table of the public dataset, up to its WHERE
    clause's end (the partition filter)."""
    scans = []
    for table in RAW_TABLES:
        for match in re.finditer(rf"`{re.escape(DATASET)}\.{table}`", sql):
            scans.append(sql[match.end() : match.end() + 200])
    return scans


def test_the_state_script_scans_only_its_window() -> None:
    """Every read of transactions / token_transfers in the script is bounded by @start/@end on
    the partitioning column; the script is valid BigQuery and replaces its days in one
    transaction."""
    script = state_script(DATASET, STATE)
    statements = sqlglot.parse(script, read="bigquery")
    assert len(statements) == 3 * len(PUSHED_STATE_TABLES) + 5
    scans = raw_scans(script)
    assert len(scans) >= len(PUSHED_STATE_TABLES) * 2
    window = re.compile(r"block_timestamp >= @start AND (\w+\.)?block_timestamp < @end")
    for scan in scans:
        assert window.search(scan.replace("\n", " ").replace("  ", " ")), scan
    body = script[script.index("BEGIN TRANSACTION;") : script.index("COMMIT TRANSACTION;")]
    for table in (*PUSHED_STATE_TABLES, "state_days"):
        assert f"DELETE FROM `{STATE}.{table}` WHERE day >= DATE(@start)" in body
        assert f"INSERT INTO `{STATE}.{table}`" in body
    assert "CREATE TABLE" not in body  # DDL stays outside the transaction


def test_missing_days_and_script_windows_of_at_most_a_thousand_days() -> None:
    as_of = datetime(2015, 8, 5, tzinfo=UTC)
    held = [GENESIS_DATE + timedelta(days=i) for i in (0, 1, 3)]
    assert days_missing(held, as_of) == [
        date(2015, 8, 1), date(2015, 8, 3), date(2015, 8, 4),
    ]  # fmt: skip
    assert days_missing(held, datetime(2015, 8, 1, 12, tzinfo=UTC)) == []
    days = [GENESIS_DATE + timedelta(days=i) for i in range(2500)] + [date(2023, 1, 1)]
    windows = runs_of_days(days, MAX_DAYS_PER_SCRIPT)
    assert [(b - a).days for a, b in windows] == [MAX_DAYS_PER_SCRIPT] * 2 + [500, 1]
    assert windows[0][0] == GENESIS_DATE and windows[2][1] == GENESIS_DATE + timedelta(days=2500)


FEATURES = pa.table({"address": [ALICE, BOB], "sent_tnx": pa.array([3, 0], pa.int64())})
ACTIVITY = pa.table(
    {
        "address": [ALICE, BOB],
        "first_seen": pa.array([datetime(2018, 1, 2, tzinfo=UTC), None], pa.timestamp("us", "UTC")),
        "last_seen": pa.array([datetime(2018, 1, 2, tzinfo=UTC), None], pa.timestamp("us", "UTC")),
    }
)


BUILT_AT = datetime(2019, 4, 25, 3, tzinfo=UTC)


def held(days: list[date]) -> pa.Table:
    """What `state_days` answers when it holds `days`."""
    return pa.table(
        {
            "day": pa.array(days, pa.date32()),
            "transactions": pa.array([10] * len(days), pa.int64()),
            "token_transfers": pa.array([2] * len(days), pa.int64()),
            "built_at": pa.array([BUILT_AT] * len(days), pa.timestamp("us", "UTC")),
        }
    )


def run_engine(make_resources, client: FakeClient, as_of: str, **source: object):
    """address_features with the bigquery engine over the faked client; the client's calls."""
    chain = BigQueryChainSource(
        bigquery=FakeBigQuery.around(client), retry_delay_seconds=0, **source
    )
    resources = make_resources(source=chain)
    with resources["warehouse"].connect() as con:
        con.execute(
            "CREATE TABLE address_universe AS SELECT * FROM (VALUES "
            f"('{ALICE}', 'address_file', false), ('{BOB}', 'address_file', true)) "
            "AS t(address, inclusion_reason, is_labelled_illicit)"
        )
    result = materialize(
        [address_features],
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        run_config={
            "ops": {"address_features": {"config": {"as_of": as_of, "engine": "bigquery"}}}
        },
        raise_on_error=False,
    )
    return result, resources


def parameters(config: object) -> dict[str, object]:
    return {
        p.name: getattr(p, "value", getattr(p, "values", None)) for p in config.query_parameters
    }


def test_a_night_reads_one_day_of_raw_partitions_and_the_state(make_resources) -> None:
    """The state holds every day before the night: the night builds its one day (the only query
    that reads raw partitions, bounded to that day), then both feature queries read the state
    tables and no raw table."""
    before = [GENESIS_DATE + timedelta(days=i) for i in range((NIGHT - GENESIS_DATE).days)]
    client = FakeClient([held(before), pa.table({}), FEATURES, ACTIVITY])
    result, resources = run_engine(make_resources, client, "2019-04-25", state_dataset=STATE)
    assert result.success
    (days_sql, _), (script, window), *features = client.calls
    assert f"`{STATE}.state_days`" in days_sql and not raw_scans(days_sql)
    bounds = parameters(window)
    assert bounds == {
        "start": datetime(2019, 4, 24, tzinfo=UTC),
        "end": datetime(2019, 4, 25, tzinfo=UTC),
    }
    assert raw_scans(script) and script == state_script(DATASET, STATE)
    for sql, config in features:
        assert not raw_scans(sql), "a feature query read the raw history"
        assert f"`{STATE}.state_ether`" in sql and "day < DATE(@as_of)" in sql
        # every state table but the known contracts is read for the universe alone
        assert sql.count("address IN UNNEST(@addresses)") == len(
            re.findall(r"`my-project\.eth_assets_state\.state_(?!contracts)", sql)
        )
        assert parameters(config)["addresses"] == [ALICE, BOB]
        assert "start" not in parameters(config)
    with resources["warehouse"].connect(read_only=True) as con:
        assert con.execute("SELECT * FROM address_features").fetchall() == [(ALICE, 3), (BOB, 0)]
    metadata = result.asset_materializations_for_node("address_features")[0].metadata
    assert metadata["bigquery_state_days_built"].value == "1"
    assert metadata["bigquery_jobs"].value == "4"


def test_a_cutoff_inside_a_day_adds_that_days_partition_up_to_the_cutoff(make_resources) -> None:
    before = [GENESIS_DATE + timedelta(days=i) for i in range((NIGHT - GENESIS_DATE).days + 1)]
    client = FakeClient([held(before), FEATURES, ACTIVITY])
    result, _ = run_engine(make_resources, client, "2019-04-25T06:00:00", state_dataset=STATE)
    assert result.success
    assert len(client.calls) == 3  # no day to build
    for sql, config in client.calls[1:]:
        bounds = parameters(config)
        assert (bounds["start"], bounds["end"]) == (
            datetime(2019, 4, 25, tzinfo=UTC),
            datetime(2019, 4, 25, 6, tzinfo=UTC),
        )
        assert raw_scans(sql) and all("@start" in scan for scan in raw_scans(sql))


def test_a_first_run_builds_the_state_from_genesis_in_bounded_windows(make_resources) -> None:
    days = (NIGHT - GENESIS_DATE).days + 1
    scripts = -(-days // MAX_DAYS_PER_SCRIPT)
    client = FakeClient([held([]), *[pa.table({})] * scripts, FEATURES, ACTIVITY])
    result, _ = run_engine(make_resources, client, "2019-04-25", state_dataset=STATE)
    assert result.success
    windows = [parameters(c) for s, c in client.calls[1 : 1 + scripts]]
    assert windows[0]["start"] == datetime(2015, 7, 30, tzinfo=UTC)
    assert windows[-1]["end"] == datetime(2019, 4, 25, tzinfo=UTC)
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(windows))


def test_the_bigquery_engine_needs_a_state_dataset(make_resources, monkeypatch) -> None:
    monkeypatch.delenv(BQ_STATE_DATASET_ENV, raising=False)
    client = FakeClient([])
    result, _ = run_engine(make_resources, client, "2019-04-25")
    assert not result.success and client.calls == []
    error = result.get_step_failure_events()[0].event_specific_data.error.cause.message
    assert BQ_STATE_DATASET_ENV in error


def test_the_state_dataset_comes_from_the_setting(make_resources, monkeypatch) -> None:
    monkeypatch.setenv(BQ_STATE_DATASET_ENV, "other-project.state")
    before = [GENESIS_DATE + timedelta(days=i) for i in range((NIGHT - GENESIS_DATE).days + 1)]
    client = FakeClient([held(before), FEATURES, ACTIVITY])
    result, _ = run_engine(make_resources, client, "2019-04-25")
    assert result.success
    assert "`other-project.state.state_ether`" in client.calls[1][0]
    with pytest.raises(ValueError, match="invalid BigQuery dataset"):
        state_script(DATASET, "no spaces; DROP TABLE x")


def test_a_lake_day_re_extracted_after_its_state_was_built_is_built_again(tmp_path) -> None:
    """The lake's day files are written now: days the state built before are rewritten, days
    built after are not, and a day the state never held is left to `days_missing`."""
    root = write_history_lake(tmp_path / "lake", TRANSACTIONS_ROWS, TOKEN_ROWS)
    days = sorted(lake_days(root))
    assert len(days) == 2
    earlier = HeldDay(10, 2, datetime.now(UTC) - timedelta(hours=1))
    later = HeldDay(10, 2, datetime.now(UTC) + timedelta(hours=1))
    state = {days[0]: earlier, days[1]: later}
    assert rewritten_lake_days(state, root) == [days[0]]
    assert rewritten_lake_days(state, None) == []
