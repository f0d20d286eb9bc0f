"""The DuckDB warehouse: feature tables and datasets, one file, one writer at a time.

DuckDB lets a single process hold a database file read-write, so writing steps are serialised by
the executor (tag `storage: duckdb`) and connections wait for the lock instead of failing at once.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from eth_assets.common.duckdb_utils import connect
from eth_assets.settings import data_dir

WAREHOUSE_TAG = {"storage": "duckdb"}


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
        con = connect(
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
