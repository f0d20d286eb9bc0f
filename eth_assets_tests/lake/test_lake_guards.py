"""The lake refuses silent damage: days from another source, days deleted because the source
lacks them, amounts that are not integers; and says so when compaction fails after a swap."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.lake.compaction import table_relation_sql
from eth_assets.lake.partition_writes import (
    LakeCompactionError,
    LakeGuardError,
    lake_sources,
    replace_window,
)
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets_tests.fixtures import write_bigquery_schema_folder

START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2020, 1, 4, tzinfo=UTC)


def _source(folder: Path) -> ParquetChainSource:
    return ParquetChainSource(folder=str(folder))


def _write(lake: Path, source: ParquetChainSource, table=TRANSACTIONS, **options: bool):
    return replace_window(
        lake,
        table,
        lambda con: source.stage(con, table, START, END),
        START,
        END,
        source.describe(),
        **options,
    )


def _rows(lake: Path, table=TRANSACTIONS) -> list[tuple]:
    return duckdb.sql(f"SELECT * FROM ({table_relation_sql(lake, table)}) ORDER BY ALL").fetchall()


def _without_day_two(source: Path, target: Path) -> Path:
    target.mkdir()
    duckdb.sql(
        f"COPY (SELECT * FROM '{source}/transactions.parquet' WHERE hash <> '0x03') "
        f"TO '{target}/transactions.parquet' (FORMAT parquet)"
    )
    return target


def test_each_day_records_its_source(tmp_path: Path) -> None:
    source = _source(write_bigquery_schema_folder(tmp_path / "src"))
    _write(tmp_path / "lake", source)
    assert lake_sources(tmp_path / "lake", TRANSACTIONS) == {
        source.describe(): [date(2020, 1, 1), date(2020, 1, 2), date(2020, 1, 3)]
    }


def test_another_source_is_refused_naming_both_and_nothing_changes(tmp_path: Path) -> None:
    first = _source(write_bigquery_schema_folder(tmp_path / "first"))
    second = _source(write_bigquery_schema_folder(tmp_path / "second"))
    lake = tmp_path / "lake"
    _write(lake, first)
    before = _rows(lake)
    with pytest.raises(LakeGuardError) as refused:
        _write(lake, second)
    message = str(refused.value)
    assert first.describe() in message and second.describe() in message
    assert "3 days (2020-01-01, 2020-01-02, 2020-01-03)" in message
    assert "replace_other_source" in message and "Nothing was changed" in message
    assert _rows(lake) == before
    _write(lake, second, replace_other_source=True)
    assert set(lake_sources(lake, TRANSACTIONS)) == {second.describe()}


def test_days_the_source_lacks_are_not_deleted_unless_allowed(tmp_path: Path) -> None:
    original = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    _write(lake, _source(original))
    before = _rows(lake)
    shrunk = _source(_without_day_two(original, tmp_path / "shrunk"))
    # The same folder path, now holding fewer days: same source, so only the deletion guard.
    shrunk_in_place = ParquetChainSource(folder=str(original))
    (original / "transactions.parquet").unlink()
    (shrunk.folder_path() / "transactions.parquet").rename(original / "transactions.parquet")
    with pytest.raises(LakeGuardError, match=r"no rows for 1 day \(2020-01-02\)"):
        _write(lake, shrunk_in_place)
    assert _rows(lake) == before
    written = _write(lake, shrunk_in_place, allow_deleting_days=True)
    assert written.emptied_days == [date(2020, 1, 2)]
    assert len(_rows(lake)) == len(before) - 1


def test_compaction_failing_after_the_swap_says_the_days_were_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(write_bigquery_schema_folder(tmp_path / "src"))
    lake = ParquetLake(root=str(tmp_path / "lake"))

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ParquetLake, "compact", full_disk)
    with pytest.raises(LakeCompactionError) as failed:
        lake.replace_window(
            "transactions",
            lambda con: source.stage(con, TRANSACTIONS, START, END),
            START,
            END,
            source.describe(),
        )
    message = str(failed.value)
    assert "4 rows of 3 days in [2020-01-01, 2020-01-04) WERE written" in message
    assert "No space left on device" in message and "compact_lake" in message
    assert len(_rows(tmp_path / "lake")) == 4  # consistent: the day files are read
    assert lake.last_day("transactions") == date(2020, 1, 3)


@pytest.mark.parametrize(
    ("table", "bad", "shown"),
    [(TRANSACTIONS, "12.5", "'12.5'"), (TOKEN_TRANSFERS, "1e18", "'1e18'")],
)
def test_an_amount_that_is_not_an_integer_names_file_column_value_and_row(
    tmp_path: Path, table, bad: str, shown: str
) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "src")
    path = folder / f"{table.name}.parquet"
    key = "hash" if table is TRANSACTIONS else "transaction_hash"
    first = duckdb.sql(f"SELECT min({key}) FROM '{path}'").fetchall()[0][0]
    broken = tmp_path / "broken.parquet"
    duckdb.sql(
        f"COPY (SELECT * REPLACE (CASE WHEN {key} = '{first}' THEN '{bad}' "
        f"ELSE CAST(value AS VARCHAR) END AS value) FROM '{path}') TO '{broken}' (FORMAT parquet)"
    )
    broken.replace(path)
    with pytest.raises(duckdb.Error) as failed:
        _write(tmp_path / "lake", _source(folder), table)
    message = str(failed.value)
    assert f"column 'value' holds {bad}" in message, message
    assert f"transaction {first}" in message and str(path) in message
    assert "not an integer amount" in message
    assert not (tmp_path / "lake" / table.name).exists() or not _rows(tmp_path / "lake", table)


def test_float_amounts_are_refused_naming_the_column(tmp_path: Path) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "src")
    path = folder / "transactions.parquet"
    floats = tmp_path / "floats.parquet"
    duckdb.sql(
        f"COPY (SELECT * REPLACE (CAST(value AS DOUBLE) AS value) FROM '{path}') "
        f"TO '{floats}' (FORMAT parquet)"
    )
    floats.replace(path)
    with pytest.raises(ValueError, match="column 'value' holds amounts as DOUBLE"):
        _write(tmp_path / "lake", _source(folder))
