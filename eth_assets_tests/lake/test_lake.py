"""The Parquet lake: replace semantics, idempotence and failure atomicity."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.lake import partition_writes as lake_module
from eth_assets.lake.compaction import table_relation_sql
from eth_assets.lake.partition_writes import replace_window, table_files
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets.resources.warehouse import DuckDBWarehouse
from eth_assets_tests.fixtures import HUGE_TOKEN_VALUE, write_bigquery_schema_folder

START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2020, 1, 4, tzinfo=UTC)


def _stage(folder: Path, table=TRANSACTIONS):
    source = ParquetChainSource(folder=str(folder))
    return lambda con: source.stage(con, table, START, END)


def _lake_rows(root: Path, table=TRANSACTIONS, columns: str = "*") -> list[tuple]:
    return duckdb.sql(
        f"SELECT {columns} FROM ({table_relation_sql(root, table)}) ORDER BY ALL"
    ).fetchall()


def test_window_is_written_one_file_per_day(tmp_path: Path) -> None:
    source = write_bigquery_schema_folder(tmp_path / "src")
    written = replace_window(tmp_path / "lake", TRANSACTIONS, _stage(source), START, END)
    assert written.rows == 4
    assert [d.day.isoformat() for d in written.days] == ["2020-01-01", "2020-01-02", "2020-01-03"]
    assert [d.rows for d in written.days] == [2, 1, 1]
    assert all(d.bytes > 0 for d in written.days)
    assert len(table_files(tmp_path / "lake", TRANSACTIONS)) == 3


def test_repeating_a_window_replaces_it(tmp_path: Path) -> None:
    source = write_bigquery_schema_folder(tmp_path / "src")
    for _ in range(3):
        replace_window(tmp_path / "lake", TRANSACTIONS, _stage(source), START, END)
    rows = _lake_rows(tmp_path / "lake", columns="hash")
    assert rows == [("0x01",), ("0x02",), ("0x03",), ("0x04",)]


def test_a_day_that_lost_its_rows_is_emptied(tmp_path: Path) -> None:
    source = write_bigquery_schema_folder(tmp_path / "src")
    replace_window(tmp_path / "lake", TRANSACTIONS, _stage(source), START, END)
    empty = tmp_path / "empty"
    empty.mkdir()
    duckdb.sql(
        f"COPY (SELECT * FROM '{source}/transactions.parquet' WHERE hash <> '0x03') "
        f"TO '{empty}/transactions.parquet' (FORMAT parquet)"
    )
    written = replace_window(
        tmp_path / "lake", TRANSACTIONS, _stage(empty), START, END, allow_deleting_days=True
    )
    assert [d.isoformat() for d in written.emptied_days] == ["2020-01-02"]
    assert _lake_rows(tmp_path / "lake", columns="hash") == [("0x01",), ("0x02",), ("0x04",)]


def test_contract_creation_keeps_null_to_address(tmp_path: Path) -> None:
    source = write_bigquery_schema_folder(tmp_path / "src")
    replace_window(tmp_path / "lake", TRANSACTIONS, _stage(source), START, END)
    rows = _lake_rows(
        tmp_path / "lake", columns="hash, to_address, receipt_contract_address, receipt_status"
    )
    assert rows[1] == ("0x02", None, "0x" + "c3" * 20, 1)
    assert rows[3][3] is None  # pre-Byzantium style status stays NULL


def test_token_values_beyond_2_128_are_kept_exactly(tmp_path: Path) -> None:
    source = write_bigquery_schema_folder(tmp_path / "src")
    replace_window(tmp_path / "lake", TOKEN_TRANSFERS, _stage(source, TOKEN_TRANSFERS), START, END)
    values = _lake_rows(tmp_path / "lake", TOKEN_TRANSFERS, "value, token_decimals")
    assert (HUGE_TOKEN_VALUE, 6) in values
    assert int(HUGE_TOKEN_VALUE) > 2**128


def test_failure_while_staging_leaves_previous_state(tmp_path: Path) -> None:
    source = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    replace_window(lake, TRANSACTIONS, _stage(source), START, END)
    before = _lake_rows(lake)

    def failing_stage(con: duckdb.DuckDBPyConnection) -> tuple[str, dict[str, object]]:
        # A source whose last row cannot be cast: the COPY fails part-way through.
        name, meta = _stage(source)(con)
        con.execute(
            f"CREATE TEMP VIEW broken AS SELECT * REPLACE (CASE WHEN hash = '0x04' "
            f"THEN 'not-a-number' ELSE CAST(nonce AS VARCHAR) END AS nonce) FROM {name}"
        )
        return "broken", meta

    with pytest.raises(duckdb.Error):
        replace_window(lake, TRANSACTIONS, failing_stage, START, END)
    assert _lake_rows(lake) == before
    assert not list((lake / ".staging").iterdir())


def test_failure_in_the_middle_of_the_swap_leaves_every_day_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    replace_window(lake, TRANSACTIONS, _stage(source), START, END)
    before = _lake_rows(lake)
    calls = {"n": 0}
    real_replace = os.replace

    def replace_then_die(src: str, dst: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk went away")
        real_replace(src, dst)

    monkeypatch.setattr(lake_module.os, "replace", replace_then_die)
    with pytest.raises(OSError, match="disk went away"):
        replace_window(lake, TRANSACTIONS, _stage(source), START, END)
    monkeypatch.setattr(lake_module.os, "replace", real_replace)
    # Day 1 was swapped, days 2 and 3 were not: each is complete, nothing is duplicated.
    assert _lake_rows(lake) == before
    assert len(table_files(lake, TRANSACTIONS)) == 3


def test_empty_lake_reads_as_typed_empty_table(tmp_path: Path) -> None:
    rel = table_relation_sql(tmp_path / "nothing", TRANSACTIONS)
    described = duckdb.sql(f"DESCRIBE {rel}").fetchall()
    assert [r[0] for r in described][:3] == ["hash", "nonce", "transaction_index"]
    assert duckdb.sql(f"SELECT count(*) FROM ({rel})").fetchall() == [(0,)]


def test_leftover_staging_is_cleaned(tmp_path: Path) -> None:
    source = write_bigquery_schema_folder(tmp_path / "src")
    staging = tmp_path / "lake" / ".staging"
    killed = staging / "transactions-killed-run"  # what a SIGKILLed run leaves behind
    in_flight = staging / "token_transfers-running"
    for folder in (killed, in_flight):
        folder.mkdir(parents=True)
        (folder / "part.parquet").write_bytes(b"partial")
    day_old = time.time() - lake_module.STALE_STAGING_SECONDS - 60
    os.utime(killed, (day_old, day_old))
    replace_window(tmp_path / "lake", TRANSACTIONS, _stage(source), START, END)
    assert [p.name for p in staging.iterdir()] == ["token_transfers-running"]
    assert os.path.isdir(tmp_path / "lake" / "transactions")


def test_folders_named_with_an_apostrophe(tmp_path: Path) -> None:
    """Source files, lake, compact files and warehouse under a folder named o'brien's."""
    base = tmp_path / "o'brien's data"
    source = write_bigquery_schema_folder(base / "source")
    nested = source / "token_transfers"
    nested.mkdir()
    (source / "token_transfers.parquet").rename(nested / "part-0.parquet")
    lake = ParquetLake(root=str(base / "lake"))
    for table in (TRANSACTIONS, TOKEN_TRANSFERS):
        written = lake.replace_window(table.name, _stage(source, table), START, END)
        assert written.compaction is not None and written.compaction.compact_files == 1
    with DuckDBWarehouse(path=str(base / "warehouse.duckdb")).connect() as con:
        counts = [
            con.execute(f"SELECT count(*) FROM ({lake.relation_sql(t.name)})").fetchall()[0][0]
            for t in (TRANSACTIONS, TOKEN_TRANSFERS)
        ]
    assert counts == [4, 2]
