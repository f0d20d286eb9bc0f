"""The lake as a Dagster resource: a thin wrapper over the plain lake code (per-day partitions
swapped in atomically in eth_assets.lake.partition_writes; eth_assets.lake.compaction)."""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
from dagster import ConfigurableResource

from eth_assets.chain.schemas import RAW_TABLES
from eth_assets.lake.compaction import (
    Compaction,
    LakeFiles,
    compact_table,
    day_files,
    table_relation_sql,
)
from eth_assets.lake.partition_writes import (
    LakeCompactionError,
    StageFn,
    WindowWrite,
    days_in_window,
    days_text,
    lake_sources,
    replace_window,
    write_table_atomic,
)
from eth_assets.lake.provenance import file_source, with_source
from eth_assets.settings import data_dir


class ParquetLake(ConfigurableResource):
    """Local storage of raw extracts and small tables as Parquet under `root`.

    `compact_below_mib`: a raw table (else each calendar year, else month of it) whose day files
    total less than this is also kept as one compact file (0 turns compaction off).
    `compact_grace_seconds`: how long a compact file that readers stopped using is kept for
    queries planned before.
    """

    root: str = ""
    compact_below_mib: int = 128
    compact_grace_seconds: float = 3600.0

    def root_path(self) -> Path:
        """The lake folder: `root` when set, else `<data dir>/lake`."""
        return Path(self.root).resolve() if self.root else data_dir() / "lake"

    def replace_window(
        self,
        table_name: str,
        stage: StageFn,
        start: datetime,
        end: datetime,
        source: str = "unknown",
        replace_other_source: bool = False,
        allow_deleting_days: bool = False,
        allow_shrinking_days: bool = False,
        max_shrink_share: float = 0.0,
    ) -> WindowWrite:
        """Replace the days of [start, end) of a raw table (see `replace_window`), then compact
        the small periods holding those days. A compaction failure after the swap says that the
        days were written (the lake stays consistent: readers use the day files)."""
        written = replace_window(
            self.root_path(),
            RAW_TABLES[table_name],
            stage,
            start,
            end,
            source,
            replace_other_source,
            allow_deleting_days,
            allow_shrinking_days,
            max_shrink_share,
        )
        try:
            written.compaction = self.compact(table_name, list(days_in_window(start, end)))
        except Exception as error:
            removed = written.emptied_days
            raise LakeCompactionError(
                f"{table_name}: {written.rows} rows of {len(written.days)} days in "
                f"[{start.date()}, {end.date()}) WERE written to the lake"
                + (f" and {days_text(removed)} removed" if removed else "")
                + f", then compacting failed: {error}. The lake is consistent (readers use the "
                "day files until a compact file matches them); run the compact_lake job or this "
                "materialization again once the cause is fixed"
            ) from error
        return written

    def sources(self, table_name: str) -> dict[str, list[date]]:
        """Which source wrote which days of a raw table."""
        return lake_sources(self.root_path(), RAW_TABLES[table_name])

    def last_day(self, table_name: str) -> date | None:
        """The latest day a raw table holds in the lake, from its files (not from any record
        of runs)."""
        days = day_files(self.root_path() / RAW_TABLES[table_name].name)
        return max(days) if days else None

    def compact(self, table_name: str, touched: list[date] | None = None) -> Compaction:
        """Bring a raw table's compact files up to date (all periods, or those of `touched`)."""
        return compact_table(
            self.root_path() / RAW_TABLES[table_name].name,
            below_bytes=self.compact_below_mib * 2**20,
            grace_seconds=self.compact_grace_seconds,
            touched=touched,
        )

    def relation_sql(self, table_name: str) -> str:
        """A DuckDB SELECT over a raw table's files (typed, possibly empty)."""
        return table_relation_sql(self.root_path(), RAW_TABLES[table_name])

    def naming_damaged_files(self) -> contextlib.AbstractContextManager[None]:
        """A DuckDB error from a damaged raw file, raised in the block by a query over
        `relation_sql`, becomes a LakeFileError naming the file, its day and what to do."""
        return LakeFiles(self.root_path()).naming_damaged_files()

    def table_path(self, name: str) -> Path:
        """Path of a small single-file table in the lake, e.g. `illicit_labels`."""
        return self.root_path() / f"{name}.parquet"

    def write_table(self, name: str, table: pa.Table, source: str | None = None) -> int:
        """Atomically write a small table (recording `source` in its footer); its bytes."""
        return write_table_atomic(
            self.table_path(name), table if source is None else with_source(table, source)
        )

    def labelled_addresses(self) -> pl.Series:
        """The distinct addresses of the stored label set (empty before illicit_labels ran)."""
        path = self.table_path("illicit_labels")
        if not path.is_file():
            return pl.Series("address", [], dtype=pl.Utf8)
        return pl.read_parquet(path, columns=["address"])["address"].unique().sort()

    def table_source(self, name: str) -> str | None:
        """The source recorded with a small table; None when absent or not recorded."""
        path = self.table_path(name)
        return file_source(path) if path.is_file() else None
