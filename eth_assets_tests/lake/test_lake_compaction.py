"""Compaction of small days: every day read exactly once and as currently written, whatever
happened to the day files after a compact file was built; superseded files kept for a grace."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from eth_assets.chain.schemas import TRANSACTIONS
from eth_assets.lake import compaction as compaction_module
from eth_assets.lake.compaction import (
    COMPACT_DIR,
    SUPERSEDED_SUFFIX,
    compact_dir,
    compact_files,
    compact_table,
    plan_sql,
    read_plan,
    table_relation_sql,
)
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets_tests.fixtures import write_bigquery_schema_folder

DAYS = [date(2019, 12, 30), date(2019, 12, 31)] + [date(2020, 1, d) for d in (1, 2, 3, 4)]
DAYS += [date(2020, 3, 5), date(2020, 3, 6)]
BIG = 2**30  # a threshold every period is under


def _write_day(table: Path, day: date, values: list[int]) -> None:
    """A day file as the lake writes it: atomic rename of a complete file."""
    folder = table / f"block_date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{uuid.uuid4().hex}.tmp"
    rows = ", ".join(f"({v})" for v in values)
    duckdb.sql(
        f"COPY (SELECT v::BIGINT AS v FROM (VALUES {rows}) AS t(v)) TO '{tmp}' (FORMAT parquet)"
    )
    os.replace(tmp, folder / "part.parquet")


def _table(tmp_path: Path) -> Path:
    table = tmp_path / "transactions"
    for i, day in enumerate(DAYS):
        _write_day(table, day, [10 * i, 10 * i + 1])
    return table


def _rows(table: Path) -> list[tuple]:
    relation = plan_sql(read_plan(table))
    if relation is None:
        return []
    return duckdb.sql(f"SELECT block_date, v FROM ({relation}) ORDER BY ALL").fetchall()


def _expected(values: dict[date, list[int]]) -> list[tuple]:
    return sorted((d, v) for d, vs in values.items() for v in vs)


INITIAL = {day: [10 * i, 10 * i + 1] for i, day in enumerate(DAYS)}


def _size(table: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in table.glob(f"block_date={pattern}/part.parquet"))


def test_a_small_table_is_read_from_one_file(tmp_path: Path) -> None:
    table = _table(tmp_path)
    done = compact_table(table, below_bytes=BIG, grace_seconds=3600)
    assert done.written == ["all"]
    plan = read_plan(table)
    assert len(plan.compact_files) == 1
    assert plan.day_files == []
    assert _rows(table) == _expected(INITIAL)
    # Nothing changed: a second pass writes nothing.
    assert compact_table(table, below_bytes=BIG, grace_seconds=3600).written == []


def test_small_years_are_read_from_one_file_each(tmp_path: Path) -> None:
    table = _table(tmp_path)
    below = max(_size(table, "2019-*"), _size(table, "2020-*")) + 1
    done = compact_table(table, below_bytes=below, grace_seconds=3600)
    assert done.written == ["2019", "2020"]
    assert read_plan(table).day_files == []
    assert _rows(table) == _expected(INITIAL)


def test_a_year_over_the_threshold_is_compacted_by_month(tmp_path: Path) -> None:
    table = _table(tmp_path)
    january = _size(table, "2020-01-*")
    done = compact_table(table, below_bytes=january + 1, grace_seconds=3600)
    assert done.written == ["2019", "2020-01", "2020-03"]
    assert read_plan(table).day_files == []
    assert _rows(table) == _expected(INITIAL)


def test_a_lowered_threshold_keeps_a_current_larger_file(tmp_path: Path) -> None:
    table = _table(tmp_path)
    compact_table(table, below_bytes=BIG, grace_seconds=3600)
    below = max(_size(table, "2019-*"), _size(table, "2020-*")) + 1
    # The whole-table file is current and covers every year: no year file is written under it.
    assert compact_table(table, below_bytes=below, grace_seconds=3600).written == []
    assert [p.name[:3] for p in read_plan(table).compact_files] == ["all"]
    # Once a day changes, the years are compacted separately.
    _write_day(table, date(2020, 1, 2), [777])
    assert compact_table(table, below_bytes=below, grace_seconds=3600).written == ["2019", "2020"]
    assert [p.name[:4] for p in read_plan(table).compact_files] == ["2019", "2020"]
    assert _rows(table) == _expected({**INITIAL, date(2020, 1, 2): [777]})


def test_threshold_zero_turns_compaction_off(tmp_path: Path) -> None:
    table = _table(tmp_path)
    assert compact_table(table, below_bytes=0, grace_seconds=3600).written == []
    assert not compact_dir(table).exists()
    assert len(read_plan(table).day_files) == len(DAYS)


def test_a_day_rewritten_after_compaction_is_read_as_rewritten(tmp_path: Path) -> None:
    table = _table(tmp_path)
    below = max(_size(table, "2019-*"), _size(table, "2020-*")) + 1
    compact_table(table, below_bytes=below, grace_seconds=3600)
    _write_day(table, date(2020, 1, 2), [777])
    expected = {**INITIAL, date(2020, 1, 2): [777]}
    plan = read_plan(table)
    # The 2020 file no longer matches its days: 2020 is read from its day files, 2019 still not.
    assert [p.name[:4] for p in plan.compact_files] == ["2019"]
    assert len(plan.day_files) == 6
    assert _rows(table) == _expected(expected)
    done = compact_table(table, below_bytes=below, grace_seconds=3600, touched=[date(2020, 1, 2)])
    assert done.written == ["2020"]
    assert read_plan(table).day_files == []
    assert _rows(table) == _expected(expected)


def test_a_day_emptied_after_compaction_is_no_longer_read(tmp_path: Path) -> None:
    table = _table(tmp_path)
    compact_table(table, below_bytes=BIG, grace_seconds=3600)
    gone = table / "block_date=2019-12-31" / "part.parquet"
    gone.unlink()
    gone.parent.rmdir()
    expected = {d: v for d, v in INITIAL.items() if d != date(2019, 12, 31)}
    assert _rows(table) == _expected(expected)
    compact_table(table, below_bytes=BIG, grace_seconds=3600)
    assert _rows(table) == _expected(expected)


def test_a_day_added_to_a_compacted_year_is_read(tmp_path: Path) -> None:
    table = _table(tmp_path)
    compact_table(table, below_bytes=BIG, grace_seconds=3600)
    _write_day(table, date(2020, 7, 1), [5])
    expected = {**INITIAL, date(2020, 7, 1): [5]}
    assert _rows(table) == _expected(expected)


def test_overlapping_current_files_are_read_once(tmp_path: Path) -> None:
    table = _table(tmp_path)
    compact_table(table, below_bytes=1, grace_seconds=3600)  # nothing is that small
    months = compact_table(table, below_bytes=_size(table, "2020-01-*") + 1, grace_seconds=3600)
    assert months.written == ["2019", "2020-01", "2020-03"]
    whole = compact_table(table, below_bytes=BIG, grace_seconds=3600)
    assert whole.written == ["all"]
    chosen = set(read_plan(table).compact_files)
    assert [f.period.label for f in compact_files(table) if f.path in chosen] == ["all"]
    assert _rows(table) == _expected(INITIAL)
    # The other files are still there for readers planned earlier, marked as superseded.
    markers = compact_dir(table).glob(f"*{SUPERSEDED_SUFFIX}")
    marked = {p.with_name(p.name.removesuffix(SUPERSEDED_SUFFIX)) for p in markers}
    labels = sorted(f.period.label for f in compact_files(table) if f.path in marked)
    assert labels == ["2019", "2020-01", "2020-03"]


def test_superseded_files_are_removed_only_after_the_grace_period(tmp_path: Path) -> None:
    table = _table(tmp_path)
    compact_table(table, below_bytes=BIG, grace_seconds=60)
    (old,) = read_plan(table).compact_files
    _write_day(table, date(2020, 3, 6), [1])
    compact_table(table, below_bytes=BIG, grace_seconds=60)
    assert old.exists()  # marked, not removed: a query planned before may still open it
    assert old.with_name(old.name + SUPERSEDED_SUFFIX).exists()
    compact_table(table, below_bytes=BIG, grace_seconds=60, now=time.time() + 30)
    assert old.exists()
    done = compact_table(table, below_bytes=BIG, grace_seconds=60, now=time.time() + 61)
    assert done.removed == [old]
    assert not old.exists()
    assert not old.with_name(old.name + SUPERSEDED_SUFFIX).exists()
    assert len(list(compact_dir(table).glob("*.parquet"))) == 1


def test_interrupted_compaction_changes_nothing_readers_see(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table(tmp_path)

    def die(src: str, dst: str) -> None:
        raise OSError("killed during rename")

    monkeypatch.setattr(compaction_module.os, "replace", die)
    with pytest.raises(OSError, match="killed during rename"):
        compact_table(table, below_bytes=BIG, grace_seconds=3600)
    assert list(compact_dir(table).iterdir()) == []  # the temporary file is gone too
    assert len(read_plan(table).day_files) == len(DAYS)
    assert _rows(table) == _expected(INITIAL)


def test_a_compact_file_without_manifest_is_ignored(tmp_path: Path) -> None:
    table = _table(tmp_path)
    compact_dir(table).mkdir(parents=True)
    duckdb.sql(f"COPY (SELECT 1::BIGINT AS v) TO '{compact_dir(table) / '2020-x.parquet'}'")
    assert _rows(table) == _expected(INITIAL)


def test_the_lake_resource_compacts_what_it_writes(tmp_path: Path) -> None:
    source = ParquetChainSource(folder=str(write_bigquery_schema_folder(tmp_path / "src")))
    start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 4, tzinfo=UTC)
    lake = ParquetLake(root=str(tmp_path / "lake"))
    for _ in range(2):  # repeated: replaced, never duplicated
        written = lake.replace_window(
            "transactions", lambda con: source.stage(con, TRANSACTIONS, start, end), start, end
        )
        rows = duckdb.sql(
            f"SELECT hash, block_date FROM ({lake.relation_sql('transactions')}) ORDER BY ALL"
        ).fetchall()
        assert [r[0] for r in rows] == ["0x01", "0x02", "0x03", "0x04"]
        assert written.compaction is not None
        assert (written.compaction.compact_files, written.compaction.day_files_read) == (1, 0)
    off = ParquetLake(root=str(tmp_path / "off"), compact_below_mib=0)
    off.replace_window(
        "transactions", lambda con: source.stage(con, TRANSACTIONS, start, end), start, end
    )
    assert not (tmp_path / "off" / COMPACT_DIR).exists()
    relation = table_relation_sql(tmp_path / "off", TRANSACTIONS)
    assert duckdb.sql(f"SELECT count(*) FROM ({relation})").fetchall() == [(4,)]


def test_the_compact_lake_job_compacts_a_lake_written_without_compaction(
    tmp_path: Path, resources: dict[str, object]
) -> None:
    from eth_assets.lake.maintenance import compact_lake_job

    source = ParquetChainSource(folder=str(write_bigquery_schema_folder(tmp_path / "src")))
    start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 4, tzinfo=UTC)
    ParquetLake(root=str(tmp_path / "lake"), compact_below_mib=0).replace_window(
        "transactions", lambda con: source.stage(con, TRANSACTIONS, start, end), start, end
    )
    before = duckdb.sql(f"SELECT * FROM ({table_relation_sql(tmp_path / 'lake', TRANSACTIONS)})")
    assert len(read_plan(tmp_path / "lake" / "transactions").day_files) == 3

    result = compact_lake_job.execute_in_process(resources=resources)
    assert result.success
    plan = read_plan(tmp_path / "lake" / "transactions")
    assert (len(plan.compact_files), plan.day_files) == (1, [])
    after = duckdb.sql(f"SELECT * FROM ({table_relation_sql(tmp_path / 'lake', TRANSACTIONS)})")
    assert sorted(after.fetchall()) == sorted(before.fetchall())
    observed = {
        e.asset_key.to_user_string(): e.event_specific_data.asset_observation.metadata
        for e in result.get_asset_observation_events()
    }
    assert observed["raw_transactions"]["compacted_periods"].value == "all"
    assert observed["raw_transactions"]["read_day_files"].value == 0
    assert observed["raw_token_transfers"]["compacted_periods"].value == "none"
    # Run again: nothing new to write.
    again = compact_lake_job.execute_in_process(resources=resources)
    metadata = again.get_asset_observation_events()[0].event_specific_data.asset_observation
    assert metadata.metadata["compacted_periods"].value == "none"


def test_the_compact_lake_job_names_an_unknown_table(
    tmp_path: Path, resources: dict[str, object]
) -> None:
    from eth_assets.lake.maintenance import compact_lake_job

    result = compact_lake_job.execute_in_process(
        resources=resources,
        run_config={"ops": {"compact_lake_tables": {"config": {"tables": ["blocks"]}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("compact_lake_tables")
    assert failure is not None
    assert "'blocks'" in failure.error.cause.message
    assert not (tmp_path / "lake").exists()


def test_plan_leaves_out_exactly_the_covered_days() -> None:
    """The merge of sorted days and periods equals the plain definition: a day file is read
    unless a chosen period contains its day (years, months, gaps, days outside every period)."""
    import random
    from datetime import timedelta

    from eth_assets.lake.compaction import CompactFile, Period, _plan

    rng = random.Random(7)
    for _ in range(200):
        start = date(2018, 11, 1)
        days = sorted({start + timedelta(days=rng.randrange(800)) for _ in range(60)})
        files = {d: f"{d.isoformat()}/part.parquet" for d in days}
        periods: list[Period] = []
        for year in (2018, 2019, 2020):
            pick = rng.random()
            if pick < 0.3:
                periods.append(Period.year(date(year, 1, 1)))
            elif pick < 0.8:
                months = rng.sample(range(1, 13), rng.randrange(1, 6))
                periods += [Period.month(date(year, m, 1)) for m in months]
        rng.shuffle(periods)
        chosen = [CompactFile(Path(p.label), p, {}, 0.0) for p in periods]
        plan = _plan(files, chosen)
        expected = [f for d, f in files.items() if not any(p.contains(d) for p in periods)]
        assert plan.day_files == expected
        assert plan.compact_files == [c.path for c in chosen]
