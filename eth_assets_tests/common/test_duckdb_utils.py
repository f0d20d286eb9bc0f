"""Connections in UTC without replacement scans, and SQL quoting of awkward text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from eth_assets.common.chain_time import GENESIS, as_utc
from eth_assets.common.duckdb_utils import connect, sql_file_list, sql_literal


def test_sql_literal_doubles_single_quotes() -> None:
    assert sql_literal("o'brien's") == "'o''brien''s'"
    text = "it's"
    assert connect().execute(f"SELECT {sql_literal(text)}").fetchall() == [(text,)]


def test_sql_file_list_reads_files_with_quotes_in_their_names(tmp_path: Path) -> None:
    paths = [tmp_path / "a'b.parquet", tmp_path / "c.parquet"]
    con = connect()
    for i, path in enumerate(paths):
        con.execute(f"COPY (SELECT {i} AS x) TO {sql_literal(str(path))} (FORMAT parquet)")
    assert sql_file_list(["x'y", Path("z")]) == "['x''y', 'z']"
    rows = con.execute(f"SELECT x FROM read_parquet({sql_file_list(paths)}) ORDER BY x").fetchall()
    assert rows == [(0,), (1,)]


def test_connections_are_utc_and_never_read_python_objects(tmp_path: Path) -> None:
    address_universe = [1, 2, 3]  # noqa: F841  (a Python object a replacement scan would find)
    for con in (connect(), connect(tmp_path / "w.duckdb", threads=1, memory_limit="256MB")):
        assert con.execute("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]
        with pytest.raises(duckdb.CatalogException, match="address_universe"):
            con.execute("SELECT * FROM address_universe")


def test_as_utc_and_genesis() -> None:
    assert as_utc(datetime(2019, 4, 25)) == datetime(2019, 4, 25, tzinfo=UTC)
    assert GENESIS.isoformat() == "2015-07-30T00:00:00+00:00"
