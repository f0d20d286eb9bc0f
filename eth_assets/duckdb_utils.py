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
