"""The feature state on disk beside a lake: built for the asked days and every stale one, read
as of a cutoff into the same features as the raw history; a lake day rewritten or deleted after
its state was built is detected and repaired, never read stale; a killed write leaves the old
day."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.chain.sim import SimConfig
from eth_assets.common.duckdb_utils import connect
from eth_assets.features.feature_state import (
    create_tables_from_state,
    register_excluded_tokens,
    runs_of_days,
)
from eth_assets.features.feature_tables import (
    create_address_activity,
    create_address_features,
    create_behaviour_features,
    register_market_gas,
)
from eth_assets.features.state_run import (
    StaleState,
    midnight,
    refresh_state,
    register_state_as_of,
)
from eth_assets.features.state_store import (
    MANIFEST,
    compare_with_lake,
    day_dir,
    read_manifests,
)
from eth_assets.lake.partition_writes import replace_window
from eth_assets_tests.features.test_feature_state import assert_same_features
from eth_assets_tests.fixtures.state_cases import SimDays, simulated_days

SIM = SimConfig(seed=21, n_accounts=500, days=10)
DAYS = [SIM.start_date + timedelta(days=d) for d in range(SIM.days)]
END = midnight(DAYS[-1] + timedelta(days=1))


def write_days(lake: Path, tables: dict[date, dict[str, pa.Table]], **allow: bool) -> None:
    """Replace the lake's window of `tables`' days with their rows, as the raw assets do."""
    start, end = midnight(min(tables)), midnight(max(tables) + timedelta(days=1))
    for raw in (TRANSACTIONS, TOKEN_TRANSFERS):
        rows = pa.concat_tables([t[raw.name] for t in tables.values()])

        def stage(con: duckdb.DuckDBPyConnection, rows: pa.Table = rows) -> tuple[str, dict]:
            con.register("rows", rows)
            return "rows", {}

        replace_window(lake, raw, stage, start, end, source="simulated:test", **allow)


def reference(
    history: dict[date, dict[str, pa.Table]], as_of: datetime
) -> duckdb.DuckDBPyConnection:
    """A connection with the full-history features of `history` as of `as_of` and the universe."""
    con = connect()
    for raw in (TRANSACTIONS, TOKEN_TRANSFERS):
        con.register(f"{raw.name}_rows", pa.concat_tables([t[raw.name] for t in history.values()]))
        con.execute(f"CREATE TABLE {raw.name} AS FROM {raw.name}_rows")
    con.execute(
        "CREATE TABLE universe AS SELECT DISTINCT from_address AS address FROM transactions"
    )
    register_market_gas(con, None)
    create_address_features(con, as_of, "reference_features")
    create_behaviour_features(con, as_of, "reference_behaviour")
    create_address_activity(con, as_of, "reference_activity")
    return con


def assert_state_gives_reference(
    con: duckdb.DuckDBPyConnection, state: Path, lake: Path, as_of: datetime
) -> None:
    register_state_as_of(con, state, lake, as_of, None)
    register_excluded_tokens(con, ())
    create_tables_from_state(con, "state_features", "state_behaviour", "state_activity")
    for name in ("features", "behaviour", "activity"):
        assert_same_features(con, f"reference_{name}", f"state_{name}")


@pytest.fixture(scope="module")
def history() -> SimDays:
    return simulated_days(SIM)


@pytest.fixture
def built(tmp_path: Path, history: dict[date, dict[str, pa.Table]]) -> tuple[Path, Path]:
    lake, state = tmp_path / "lake", tmp_path / "lake" / "feature_state"
    write_days(lake, history)
    refresh = refresh_state(state, lake, DAYS, "run-1", None)
    assert refresh.built == DAYS and refresh.after.current
    return lake, state


def test_runs_of_days() -> None:
    d = date(2021, 1, 1)
    days = [d, d + timedelta(days=1), d + timedelta(days=3)]
    assert runs_of_days(days) == [
        (d, d + timedelta(days=2)),
        (d + timedelta(days=3), d + timedelta(days=4)),
    ]
    # a long range is built a week at a time
    month = [d + timedelta(days=i) for i in range(16)]
    assert [(b - a).days for a, b in runs_of_days(month)] == [7, 7, 2]


@pytest.mark.parametrize("hours", [0, 7.5])
def test_the_stored_state_gives_the_full_history_features(
    built: tuple[Path, Path], history: dict[date, dict[str, pa.Table]], hours: float
) -> None:
    lake, state = built
    as_of = midnight(DAYS[7]) + timedelta(hours=hours)
    con = reference(history, as_of)
    assert_state_gives_reference(con, state, lake, as_of)
    manifests = read_manifests(state)
    assert sorted(manifests) == DAYS
    assert all(m.raw["transactions"].sha256 and m.run_id == "run-1" for m in manifests.values())


def test_a_night_builds_its_day_alone(built: tuple[Path, Path], history) -> None:
    lake, state = built
    again = refresh_state(state, lake, [DAYS[4]], "run-2", None)
    assert again.built == [DAYS[4]] and again.repaired == [] and again.after.current
    assert read_manifests(state)[DAYS[3]].run_id == "run-1"


def test_a_rewritten_lake_day_is_detected_refused_and_repaired(
    built: tuple[Path, Path], history: dict[date, dict[str, pa.Table]]
) -> None:
    lake, state = built
    day = DAYS[3]
    halved = {name: table.slice(0, table.num_rows // 2) for name, table in history[day].items()}
    write_days(lake, {day: halved}, allow_shrinking_days=True)
    diff = compare_with_lake(state, lake)
    assert diff.changed == [day] and not diff.missing and not diff.removed
    changed = {**history, day: halved}
    con = reference(changed, END)
    with pytest.raises(StaleState, match=f"rewritten since their state was built \\({day}"):
        register_state_as_of(con, state, lake, END, None)
    # a cutoff before the rewritten day still reads a current state
    assert compare_with_lake(state, lake, before=day).current
    # the next run, whatever its partition, repairs that day and only it
    repair = refresh_state(state, lake, [DAYS[-1]], "run-2", None)
    assert repair.repaired == [day] and repair.built == [day, DAYS[-1]]
    assert repair.after.current
    assert_state_gives_reference(con, state, lake, END)


def test_a_deleted_lake_day_loses_its_state(
    built: tuple[Path, Path], history: dict[date, dict[str, pa.Table]]
) -> None:
    lake, state = built
    day = DAYS[6]
    empty = {name: table.slice(0, 0) for name, table in history[day].items()}
    write_days(lake, {day: empty}, allow_deleting_days=True)
    assert compare_with_lake(state, lake).removed == [day]
    refresh = refresh_state(state, lake, [], "run-2", None)
    assert refresh.removed == [day] and refresh.after.current
    assert not day_dir(state, day).exists()
    remaining = {d: t for d, t in history.items() if d != day}
    assert_state_gives_reference(reference(remaining, END), state, lake, END)


def test_a_checksum_catches_a_rewrite_that_keeps_size_time_and_rows(
    built: tuple[Path, Path],
) -> None:
    """Same rows, size, modification time and inode, other bytes: only the checksum sees it."""
    lake, state = built
    path = next((lake / "transactions").glob("block_date=*/part.parquet"))
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert compare_with_lake(state, lake).current
    assert len(compare_with_lake(state, lake, verify_checksums=True).changed) == 1


def test_a_killed_write_leaves_the_old_day(built: tuple[Path, Path]) -> None:
    """A version folder without its manifest (a run killed mid-write) is never read; the next
    write of that day removes it."""
    lake, state = built
    day = DAYS[2]
    old = read_manifests(state)[day]
    stray = day_dir(state, day) / "v-killed"
    stray.mkdir()
    (stray / "state_ether.parquet").write_bytes(b"half a file")
    assert read_manifests(state)[day] == old
    assert compare_with_lake(state, lake).current
    refresh_state(state, lake, [day], "run-3", None)
    assert not stray.exists()
    assert (day_dir(state, day) / MANIFEST).is_file()


def test_a_damaged_manifest_is_named(built: tuple[Path, Path]) -> None:
    lake, state = built
    manifest = day_dir(state, DAYS[1]) / MANIFEST
    manifest.write_text("{not json")
    with pytest.raises(ValueError, match=str(manifest)):
        compare_with_lake(state, lake)
