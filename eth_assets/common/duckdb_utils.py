"""DuckDB helpers used everywhere: opening a connection the project's way and quoting SQL text.

Plain functions, no Dagster. Every connection reads and writes timestamps in UTC and never
resolves a missing table to a Python object of the same name (DuckDB's replacement scans); a
database file also waits for another process's lock, keeps its spill files beside it and takes
the given threads and memory limit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


class WarehouseLockedError(RuntimeError):
    """Another process held the DuckDB file for longer than the configured wait."""


def sql_literal(text: str) -> str:
    """`text` as a SQL string literal (single quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def sql_file_list(paths: Iterable[str | Path]) -> str:
    """A DuckDB list literal of file paths, for read_parquet([...])."""
    return "[" + ", ".join(sql_literal(str(p)) for p in paths) + "]"


def _is_lock_error(error: duckdb.Error) -> bool:
    text = str(error).lower()
    return "lock" in text and ("conflicting" in text or "could not set lock" in text)


def _connect_waiting(path: Path, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, retrying with backoff while another process holds its lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as error:
            if not _is_lock_error(error):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"DuckDB file {path} stayed locked by another process for "
                    f"{timeout:.0f}s: {error}"
                ) from error
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def connect(
    path: Path | None = None,
    read_only: bool = False,
    lock_timeout_seconds: float = 120.0,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC: in memory when `path` is None, else the file at `path`
    (waiting up to `lock_timeout_seconds` for another process's lock, spilling to
    `<folder>/duckdb_tmp`). `threads` and `memory_limit` default to DuckDB's own."""
    if path is None:
        con = duckdb.connect()
    else:
        con = _connect_waiting(path, read_only, lock_timeout_seconds)
    con.execute("SET TimeZone = 'UTC'")
    # A missing table must fail as missing, never resolve to a Python object of the same name
    # (e.g. the asset `address_universe` in the caller's module).
    con.execute("SET python_enable_replacements = false")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
    if path is not None:
        con.execute(f"SET temp_directory = {sql_literal(str(path.parent / 'duckdb_tmp'))}")
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT, or ROLLBACK if the block raises: every table it writes, or none."""
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK").fetchall()
        raise
    con.execute("COMMIT").fetchall()


def sql_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier (double quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def remove_database_file(path: Path) -> None:
    """Delete a DuckDB file and its write-ahead log, if there."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)


def table_names(con: duckdb.DuckDBPyConnection, catalog: str) -> set[str]:
    """The tables of the `main` schema of an attached database."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'",
        [catalog],
    ).fetchall()
    return {r[0] for r in rows}


@contextmanager
def staging_catalog(
    con: duckdb.DuckDBPyConnection, path: Path, alias: str, copy_in: Iterable[str] = ()
) -> Iterator[str]:
    """A fresh DuckDB file at `path`, attached as `alias` and made the default catalog for the
    block, holding copies of the tables `copy_in`: what the block writes without a catalog goes
    there, never into the connection's own database, whose name is yielded (for
    `publish_staged`). Afterwards the default is restored and the file detached, not deleted:
    the caller removes it once published, or keeps it to show what was refused."""
    home = con.execute("SELECT current_database()").fetchall()[0][0]
    remove_database_file(path)
    con.execute(f"ATTACH {sql_literal(str(path))} AS {sql_identifier(alias)}").fetchall()
    try:
        for table in copy_in:
            con.execute(
                f"CREATE TABLE {sql_identifier(alias)}.main.{sql_identifier(table)} AS "
                f"SELECT * FROM {sql_identifier(home)}.main.{sql_identifier(table)}"
            ).fetchall()
        con.execute(f"USE {sql_identifier(alias)}").fetchall()
        yield home
    finally:
        con.execute(f"USE {sql_identifier(home)}").fetchall()
        con.execute(f"DETACH {sql_identifier(alias)}").fetchall()


def publish_staged(
    con: duckdb.DuckDBPyConnection, staging: str, home: str, tables: Iterable[str]
) -> list[str]:
    """Replace each of `tables` of catalog `home` by its copy in catalog `staging`, and drop
    those `staging` lacks, in one transaction: a reader sees every old table or every new one.
    Returns the tables replaced."""
    staged = table_names(con, staging)
    replaced = []
    with transaction(con):
        for table in tables:
            target = f"{sql_identifier(home)}.main.{sql_identifier(table)}"
            if table in staged:
                con.execute(
                    f"CREATE OR REPLACE TABLE {target} AS "
                    f"SELECT * FROM {sql_identifier(staging)}.main.{sql_identifier(table)}"
                ).fetchall()
                replaced.append(table)
            else:
                con.execute(f"DROP TABLE IF EXISTS {target}").fetchall()
    return replaced
