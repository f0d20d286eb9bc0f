"""The DuckDB warehouse: feature tables and datasets, one file, one writer at a time.

DuckDB lets a single process hold a database file read-write, so writing steps are serialised by
the executor (tag `storage: duckdb`) and connections wait for the lock instead of failing at once.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from eth_assets.settings import data_dir

WAREHOUSE_TAG = {"storage": "duckdb"}


class WarehouseLockedError(RuntimeError):
    """Another process held the warehouse file for longer than the configured wait."""


def _is_lock_error(error: duckdb.Error) -> bool:
    text = str(error).lower()
    return "lock" in text and ("conflicting" in text or "could not set lock" in text)


def open_duckdb(
    path: Path,
    read_only: bool = False,
    lock_timeout_seconds: float = 120.0,
    threads: int = 2,
    memory_limit: str = "4GB",
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file in UTC, waiting for another process's lock up to the timeout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_seconds
    delay = 0.2
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.Error as error:
            if not _is_lock_error(error) or time.monotonic() >= deadline:
                if _is_lock_error(error):
                    raise WarehouseLockedError(
                        f"DuckDB file {path} stayed locked by another process for "
                        f"{lock_timeout_seconds:.0f}s: {error}"
                    ) from error
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    con.execute("SET TimeZone = 'UTC'")
    # A missing table must fail as missing, never resolve to a Python object of the same name
    # (e.g. the asset `address_universe` in the caller's module).
    con.execute("SET python_enable_replacements = false")
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{path.parent / 'duckdb_tmp'}'")
    return con


class DuckDBWarehouse(ConfigurableResource):
    """Where feature tables and datasets live: `<data dir>/warehouse.duckdb` unless `path` says."""

    path: str = ""
    lock_timeout_seconds: float = 120.0
    threads: int = 2
    memory_limit: str = "4GB"

    def file_path(self) -> Path:
        """The DuckDB file."""
        return Path(self.path).resolve() if self.path else data_dir() / "warehouse.duckdb"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection that is closed (and its lock released) when the block ends."""
        con = open_duckdb(
            self.file_path(),
            read_only=read_only,
            lock_timeout_seconds=self.lock_timeout_seconds,
            threads=self.threads,
            memory_limit=self.memory_limit,
        )
        try:
            yield con
        finally:
            con.close()
