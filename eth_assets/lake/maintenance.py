"""Lake maintenance: a job that compacts every small period of the raw tables and sweeps compact
files readers no longer use.

Each write already compacts the periods it touched; this job is for a lake written before
compaction existed or with it off, after the threshold is raised, or to remove superseded files
once their grace period is over without waiting for the next write. It changes how the raw
tables are stored, never their rows, so it records observations on the raw assets rather than
materializations.
"""

from dagster import AssetKey, AssetObservation, Config, OpExecutionContext, job, op
from pydantic import Field

from eth_assets.chain.schemas import RAW_TABLES
from eth_assets.resources.parquet_lake import ParquetLake


class CompactLakeConfig(Config):
    """Which raw tables to compact (default: all of them)."""

    tables: list[str] = Field(
        default_factory=lambda: list(RAW_TABLES),
        description=f"Raw tables to compact, out of: {', '.join(RAW_TABLES)}.",
    )


def unknown_tables(tables: list[str]) -> list[str]:
    """The names in `tables` that are not raw tables of the lake."""
    return [name for name in tables if name not in RAW_TABLES]


@op(description="Compact every small period of the chosen raw tables; sweep superseded files.")
def compact_lake_tables(
    context: OpExecutionContext, config: CompactLakeConfig, lake: ParquetLake
) -> None:
    unknown = unknown_tables(config.tables)
    if unknown:
        raise ValueError(
            f"not raw tables of the lake: {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(RAW_TABLES)}"
        )
    for name in config.tables:
        done = lake.compact(name)
        context.log.info(
            f"{name}: compacted {', '.join(done.written) or 'nothing new'}; a reader opens "
            f"{done.compact_files} compact and {done.day_files_read} day files"
        )
        context.log_event(
            AssetObservation(
                asset_key=AssetKey(f"raw_{name}"),
                metadata={
                    "compacted_periods": ", ".join(done.written) or "none",
                    "removed_files": len(done.removed),
                    "read_compact_files": done.compact_files,
                    "read_day_files": done.day_files_read,
                    "compact_below_mib": lake.compact_below_mib,
                },
            )
        )


@job(
    name="compact_lake",
    description=(
        "Compact the raw tables' small periods into single files and remove superseded ones. "
        "Rows never change; only how many files a reader opens."
    ),
)
def compact_lake_job() -> None:
    compact_lake_tables()
