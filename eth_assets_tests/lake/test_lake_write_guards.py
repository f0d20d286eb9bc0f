"""Two more ways a raw rewrite damaged the lake silently, now refused before anything changes: a
day the source holds only part of (a partial day shrinks), and a second source adding days the
lake lacks (a lake of two sources)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.lake.compaction import table_relation_sql
from eth_assets.lake.partition_writes import DayShrink, LakeGuardError, lake_sources, replace_window
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets_tests.fixtures import write_bigquery_schema_folder

START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2020, 1, 4, tzinfo=UTC)


def _write(
    lake: Path,
    folder: Path,
    table=TRANSACTIONS,
    start: datetime = START,
    end: datetime = END,
    **options: object,
):
    source = ParquetChainSource(folder=str(folder))
    return replace_window(
        lake,
        table,
        lambda con: source.stage(con, table, start, end),
        start,
        end,
        source.describe(),
        **options,
    )


def _rows(lake: Path, table=TRANSACTIONS) -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM ({table_relation_sql(lake, table)}) ORDER BY ALL").fetchall()


def _keep(folder: Path, where: str, table: str = "transactions") -> None:
    """Rewrite the folder's table keeping the rows matching `where` (in place)."""
    path = folder / f"{table}.parquet"
    kept = folder / f"{table}.kept.parquet"
    duckdb.sql(f"COPY (SELECT * FROM '{path}' WHERE {where}) TO '{kept}' (FORMAT parquet)")
    kept.replace(path)


# A partial day.


def test_a_day_with_fewer_rows_is_refused_naming_the_day_and_both_counts(tmp_path: Path) -> None:
    """2020-01-01 holds two transactions; the source now has one of them."""
    folder = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    _write(lake, folder)
    before = _rows(lake)
    _keep(folder, "hash <> '0x02'")
    with pytest.raises(LakeGuardError) as refused:
        _write(lake, folder)
    message = str(refused.value)
    assert "1 day: 2020-01-01 from 2 to 1 rows (−50.0%)" in message, message
    assert f"parquet:{folder}" in message
    assert "allow_shrinking_days" in message and "Nothing was changed" in message
    assert _rows(lake) == before


def test_a_shrink_allowed_by_config_or_within_the_share_is_written_and_reported(
    tmp_path: Path,
) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    _write(lake, folder)
    _keep(folder, "hash <> '0x02'")
    tolerated = _write(lake, folder, max_shrink_share=0.5)
    assert tolerated.shrunk_days == [] and len(_rows(lake)) == 3
    _write(lake, write_bigquery_schema_folder(tmp_path / "src"), max_shrink_share=0.5)
    _keep(folder, "hash <> '0x02'")
    with pytest.raises(LakeGuardError, match="from 2 to 1 rows"):
        _write(lake, folder, max_shrink_share=0.49)
    written = _write(lake, folder, allow_shrinking_days=True)
    assert written.shrunk_days == [DayShrink(date(2020, 1, 1), 2, 1)]
    assert len(_rows(lake)) == 3


def test_a_day_that_grows_or_stays_is_no_shrink(tmp_path: Path) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    _keep(folder, "hash <> '0x02'")
    _write(lake, folder)
    write_bigquery_schema_folder(folder)  # the missing transaction arrives
    assert _write(lake, folder).shrunk_days == []
    assert _write(lake, folder).shrunk_days == []
    assert len(_rows(lake)) == 4


def test_the_real_sample_with_half_a_day_missing_is_refused(
    tmp_path: Path, shared_data: Path
) -> None:
    """2017-06-03 of the real sample (2,171 transactions) re-read with its afternoon missing."""
    real = shared_data / "raw_txns" / "transactions.parquet"
    folder = tmp_path / "src"
    folder.mkdir()
    start, end = datetime(2017, 6, 2, tzinfo=UTC), datetime(2017, 6, 5, tzinfo=UTC)
    duckdb.sql(
        f"COPY (SELECT * FROM '{real}' WHERE block_timestamp >= '{start}' "
        f"AND block_timestamp < '{end}') TO '{folder / 'transactions.parquet'}' (FORMAT parquet)"
    )
    lake = tmp_path / "lake"
    _write(lake, folder, start=start, end=end)
    before = _rows(lake)
    _keep(
        folder, "NOT (CAST(block_timestamp AS DATE) = '2017-06-03' AND hour(block_timestamp) >= 12)"
    )
    left = duckdb.sql(
        f"SELECT count(*) FROM '{folder / 'transactions.parquet'}' "
        "WHERE CAST(block_timestamp AS DATE) = '2017-06-03'"
    ).fetchall()[0][0]
    assert 0 < left < 2171
    with pytest.raises(LakeGuardError) as refused:
        _write(lake, folder, start=start, end=end)
    assert f"2017-06-03 from 2,171 to {left:,} rows" in str(refused.value)
    assert _rows(lake) == before


# A second source adding days.


def test_another_source_adding_new_days_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """The lake holds 2020-01-01 from one folder; another folder would add 2020-01-02…03."""
    first = write_bigquery_schema_folder(tmp_path / "first")
    second = write_bigquery_schema_folder(tmp_path / "second")
    lake = tmp_path / "lake"
    _write(lake, first, end=datetime(2020, 1, 2, tzinfo=UTC))
    before = _rows(lake)
    with pytest.raises(LakeGuardError) as refused:
        _write(lake, second, start=datetime(2020, 1, 2, tzinfo=UTC))
    message = str(refused.value)
    assert f"this run's source is parquet:{second}" in message
    assert f"1 day (2020-01-01) of transactions written by parquet:{first}" in message
    assert "separate data dir" in message and "Nothing was changed" in message
    assert _rows(lake) == before
    assert lake_sources(lake, TRANSACTIONS) == {f"parquet:{first}": [date(2020, 1, 1)]}


def test_another_source_is_refused_for_the_other_raw_table_too(tmp_path: Path) -> None:
    """Token transfers from a second source beside the first source's transactions."""
    first = write_bigquery_schema_folder(tmp_path / "first")
    second = write_bigquery_schema_folder(tmp_path / "second")
    lake = tmp_path / "lake"
    _write(lake, first)
    with pytest.raises(LakeGuardError, match=r"3 days .* of transactions written by parquet:"):
        _write(lake, second, TOKEN_TRANSFERS)
    assert not lake_sources(lake, TOKEN_TRANSFERS)
    _write(lake, second, TOKEN_TRANSFERS, replace_other_source=True)  # on purpose: allowed
    assert set(lake_sources(lake, TOKEN_TRANSFERS)) == {f"parquet:{second}"}


def test_the_same_source_adds_new_days_freely(tmp_path: Path) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    _write(lake, folder, end=datetime(2020, 1, 2, tzinfo=UTC))
    _write(lake, folder, TOKEN_TRANSFERS)
    _write(lake, folder, start=datetime(2020, 1, 2, tzinfo=UTC))
    assert len(_rows(lake)) == 4
