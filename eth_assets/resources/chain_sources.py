"""Chain sources: where raw transactions and token transfers come from.

Each source makes the rows of one raw table and one block-time window available inside a DuckDB
connection, in the canonical columns of `eth_assets.chain.schemas`; the lake writes them from
there, so
raw rows never pass through Python objects.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from pydantic import Field

from eth_assets.chain.schemas import RawTable
from eth_assets.chain.source_columns import COLUMN_ALIASES, SourceDataError, map_columns
from eth_assets.common.duckdb_utils import connect, sql_file_list
from eth_assets.settings import default_parquet_dir, shared_data_dir

# The four original illicit-address lists of the shared real-data folder.
SHARED_LABEL_FILES = (
    "mew_addresses-darklist.json",
    "etherscamdb_scams.yaml",
    "cryptoscamdb_urls.yaml",
    "etherscan_phish_hack_labels.csv",
)


class ChainSource(ConfigurableResource):
    """Base of every chain source; `definitions.py` picks a subclass from configuration."""

    def describe(self) -> str:
        """A short human description for run metadata, e.g. `parquet:/path`."""
        raise NotImplementedError

    def stage(
        self, con: duckdb.DuckDBPyConnection, table: RawTable, start: datetime, end: datetime
    ) -> tuple[str, dict[str, object]]:
        """Expose `table`'s rows with start <= block_timestamp < end in `con` (canonical
        column names); return the relation's name and metadata about the extraction."""
        raise NotImplementedError

    def available_days(self) -> tuple[date, date] | None:
        """First and last UTC day the source holds, when it knows them cheaply."""
        return None

    def holds_complete_histories(self) -> bool:
        """Whether every address found in this source's days has its whole history of those
        days there (a full-chain source), so an address outside the universe can be scored from
        the lake; False for collections of chosen accounts' histories."""
        return False

    def default_label_files(self) -> list[str]:
        """Label files read when `illicit_labels` is not configured: the shared lists."""
        return [str(shared_data_dir() / "labels" / name) for name in SHARED_LABEL_FILES]

    def default_address_file(self) -> tuple[str, str | None] | None:
        """(file, boolean column to filter on) listing addresses whose whole history this source
        holds, or None when the universe must be sampled."""
        return None


def find_table_files(folder: Path, table_name: str) -> list[Path]:
    """`<folder>/<table>.parquet` or every Parquet file under `<folder>/<table>/`."""
    single = folder / f"{table_name}.parquet"
    if single.is_file():
        return [single]
    nested = (
        sorted((folder / table_name).rglob("*.parquet")) if (folder / table_name).is_dir() else []
    )
    return nested


def _describe(con: duckdb.DuckDBPyConnection, relation_sql: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {relation_sql}").fetchall()
    return {r[0]: r[1] for r in rows}


class ParquetChainSource(ChainSource):
    """Parquet files in the BigQuery `crypto_ethereum` schema (or ethereum-etl / cryo exports).

    `folder` holds `transactions.parquet` and `token_transfers.parquet`, or folders of that name
    full of Parquet files. Exports without a timestamp (cryo's erc20_transfers) get it from a
    `blocks` table (block_number, timestamp) in the same folder.
    """

    folder: str = ""
    complete_histories: bool = Field(
        default=False,
        description="The folder is a full-chain export (every transaction of the days it "
        "covers), not the histories of chosen accounts, whose counterparties appear only "
        "partially; the address page then scores addresses outside the universe on the fly.",
    )

    def folder_path(self) -> Path:
        """The configured folder, or $ETH_ASSETS_PARQUET_DIR, or ../shared/data/raw_txns."""
        return Path(self.folder).resolve() if self.folder else default_parquet_dir()

    def describe(self) -> str:
        return f"parquet:{self.folder_path()}"

    def holds_complete_histories(self) -> bool:
        return self.complete_histories

    def default_address_file(self) -> tuple[str, str | None] | None:
        """`accounts.csv` beside the Parquet files (rows with `in_subset` true), when present."""
        accounts = self.folder_path() / "accounts.csv"
        return (str(accounts), "in_subset") if accounts.is_file() else None

    def available_days(self) -> tuple[date, date] | None:
        """First and last UTC day of the folder's transactions, when they carry a timestamp
        column (None otherwise, or when the folder has no transactions)."""
        files = find_table_files(self.folder_path(), "transactions")
        if not files:
            return None
        con = connect()
        try:
            raw = f"read_parquet({sql_file_list(files)}, union_by_name = true)"
            columns = _describe(con, f"SELECT * FROM {raw}")
            found = next((c for c in COLUMN_ALIASES["block_timestamp"] if c in columns), None)
            if found is None or not columns[found].upper().startswith("TIMESTAMP"):
                return None
            first, last = con.execute(
                f"SELECT min(CAST(timezone('UTC', \"{found}\") AS DATE)), "
                f"max(CAST(timezone('UTC', \"{found}\") AS DATE)) FROM {raw}"
            ).fetchall()[0]
        finally:
            con.close()
        return (first, last) if first is not None else None

    def stage(
        self, con: duckdb.DuckDBPyConnection, table: RawTable, start: datetime, end: datetime
    ) -> tuple[str, dict[str, object]]:
        folder = self.folder_path()
        if not folder.is_dir():
            raise SourceDataError(
                f"Parquet source folder {str(folder)!r} does not exist; set ETH_ASSETS_PARQUET_DIR "
                "(or the chain_source `folder` config) to a folder holding transactions and "
                "token_transfers Parquet files"
            )
        files = find_table_files(folder, table.name)
        if not files:
            raise SourceDataError(
                f"no {table.name} Parquet files in {str(folder)!r}: expected "
                f"{table.name}.parquet or a {table.name}/ folder of .parquet files"
            )
        # filename = true: an error about a row can name its file
        raw = f"read_parquet({sql_file_list(files)}, union_by_name = true, filename = true)"
        available = _describe(con, f"SELECT * FROM {raw}")
        relation = f"(SELECT * FROM {raw})"
        has_ts = any(a in available for a in COLUMN_ALIASES["block_timestamp"])
        if not has_ts:
            relation, available = self._join_block_timestamps(con, folder, raw, available, table)
        expressions, nulls = map_columns(table, available, f"{table.name} in {folder}")
        view = f"source_{table.name}"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {', '.join(expressions)} FROM {relation}"
        )
        return view, {"source_files": len(files), "columns_filled_with_null": nulls}

    @staticmethod
    def _join_block_timestamps(
        con: duckdb.DuckDBPyConnection,
        folder: Path,
        raw: str,
        available: dict[str, str],
        table: RawTable,
    ) -> tuple[str, dict[str, str]]:
        """Attach `block_timestamp` from a `blocks` table when the export lacks timestamps."""
        block_files = find_table_files(folder, "blocks")
        if not block_files or "block_number" not in available:
            raise SourceDataError(
                f"{table.name} in {folder}: no block_timestamp/timestamp column and no blocks "
                "Parquet (block_number, timestamp) beside it to take timestamps from"
            )
        blocks = f"read_parquet({sql_file_list(block_files)}, union_by_name = true)"
        block_cols = _describe(con, f"SELECT * FROM {blocks}")
        ts_col = next((c for c in ("timestamp", "block_timestamp") if c in block_cols), None)
        if ts_col is None or "block_number" not in block_cols:
            raise SourceDataError(f"blocks Parquet in {folder} lacks block_number and timestamp")
        relation = (
            f'(SELECT t.*, b."{ts_col}" AS block_timestamp FROM {raw} AS t '
            f'JOIN (SELECT block_number, "{ts_col}" FROM {blocks}) AS b USING (block_number))'
        )
        return relation, {**available, "block_timestamp": block_cols[ts_col]}
