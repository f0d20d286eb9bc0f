"""A lake file with a damaged page: every reader's error names the file, its table and day (or
compact period) and what to do, instead of DuckDB's bare `don't know what type:`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.features.feature_tables import features_from_lake
from eth_assets.features.universe import UNIVERSE_TABLE
from eth_assets.lake.compaction import (
    COMPACT_DIR,
    LakeFileError,
    damaged_file_error,
    file_problem,
)
from eth_assets.lake.partition_writes import LakeCompactionError
from eth_assets.lake.raw_assets import raw_transactions
from eth_assets.orchestration.asset_checks import raw_data_quality
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets_tests.fixtures import ALICE, BOB, write_bigquery_schema_folder

START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2020, 1, 4, tzinfo=UTC)


def damage_page(path: Path, column: str = "value") -> None:
    """Overwrite 16 bytes of the header of `column`'s first data page (as a disk fault would)."""
    chunk = pq.read_metadata(path).row_group(0)
    offset = next(
        chunk.column(i).data_page_offset
        for i in range(chunk.num_columns)
        if chunk.column(i).path_in_schema == column
    )
    with path.open("r+b") as handle:
        handle.seek(offset + 2)
        handle.write(b"\xff" * 16)


def _lake(tmp_path: Path, compact_below_mib: int) -> ParquetLake:
    """The hand-built folder's three days in a lake, compacted or not."""
    source = ParquetChainSource(folder=str(write_bigquery_schema_folder(tmp_path / "src")))
    lake = ParquetLake(root=str(tmp_path / "lake"), compact_below_mib=compact_below_mib)
    for table in (TRANSACTIONS, TOKEN_TRANSFERS):
        lake.replace_window(
            table.name,
            lambda con, t=table: source.stage(con, t, START, END),
            START,
            END,
            source.describe(),
        )
    return lake


def _day_file(lake: ParquetLake, day: str, table: str = "transactions") -> Path:
    return lake.root_path() / table / f"block_date={day}" / "part.parquet"


def _features(lake: ParquetLake) -> int:
    """address_features of ALICE and BOB from the lake."""
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE {UNIVERSE_TABLE} AS SELECT * FROM (VALUES (?), (?)) AS u(address)",
        [ALICE, BOB],
    )
    return features_from_lake(con, lake, END)


def test_a_damaged_day_file_is_named_with_its_day_and_the_re_extract(tmp_path: Path) -> None:
    lake = _lake(tmp_path, compact_below_mib=0)
    damaged = _day_file(lake, "2020-01-02")
    damage_page(damaged)
    assert file_problem(damaged) is not None
    assert file_problem(_day_file(lake, "2020-01-01")) is None
    with pytest.raises(LakeFileError) as failed:
        _features(lake)
    message = str(failed.value)
    assert f"lake file {damaged} (transactions, day 2020-01-02) cannot be read" in message
    assert "--select raw_transactions --partition 2020-01-02" in message
    assert "don't know what type" in message  # DuckDB's own words stay, after ours
    assert isinstance(failed.value, duckdb.Error)  # readers handling DuckDB errors still do


def test_a_damaged_compact_file_is_named_with_its_period_and_the_fix(tmp_path: Path) -> None:
    lake = _lake(tmp_path, compact_below_mib=128)
    [compact] = list((lake.root_path() / COMPACT_DIR / "transactions").glob("*.parquet"))
    damage_page(compact)
    with pytest.raises(LakeFileError) as failed:
        _features(lake)
    message = str(failed.value)
    assert f"lake file {compact} (transactions, compact file of period all)" in message
    assert "delete it (readers then use the day files)" in message
    compact.unlink()  # what the message says: the day files are read again
    assert _features(lake) == 2


def test_compaction_over_a_damaged_day_names_it(tmp_path: Path) -> None:
    """Re-extracting 2020-01-03 rebuilds the compact file, which reads the damaged 2020-01-02."""
    lake = _lake(tmp_path, compact_below_mib=128)
    damaged = _day_file(lake, "2020-01-02")
    damage_page(damaged)
    source = ParquetChainSource(folder=str(tmp_path / "src"))
    day = datetime(2020, 1, 3, tzinfo=UTC)
    with pytest.raises(LakeCompactionError) as failed:
        lake.replace_window(
            "transactions",
            lambda con: source.stage(con, TRANSACTIONS, day, END),
            day,
            END,
            source.describe(),
        )
    assert f"lake file {damaged} (transactions, day 2020-01-02) cannot be read" in str(failed.value)


def test_the_raw_checks_name_the_damaged_file(tmp_path: Path) -> None:
    """raw_transactions of 2020-01-03, then its checks over the lake with a damaged 2020-01-01."""
    lake = _lake(tmp_path, compact_below_mib=0)
    damaged = _day_file(lake, "2020-01-01")
    damage_page(damaged, "hash")  # a column the checks read
    result = materialize(
        [raw_transactions, raw_data_quality],
        resources={
            "lake": lake,
            "chain_source": ParquetChainSource(folder=str(tmp_path / "src")),
        },
        instance=DagsterInstance.ephemeral(),
        partition_key="2020-01-03",
        raise_on_error=False,
    )
    assert not result.success
    failures = "\n".join(str(e.event_specific_data.error) for e in result.get_step_failure_events())
    assert str(damaged) in failures and "day 2020-01-01" in failures


def test_errors_that_are_not_about_files_are_left_alone(tmp_path: Path) -> None:
    lake = _lake(tmp_path, compact_below_mib=0)
    files = [_day_file(lake, "2020-01-01")]
    assert damaged_file_error(duckdb.BinderException("no column x"), files) is None
    assert damaged_file_error(duckdb.Error("something else"), files) is None  # every file reads
    with pytest.raises(duckdb.CatalogException), lake.naming_damaged_files():
        duckdb.connect().execute("SELECT * FROM no_such_table")
