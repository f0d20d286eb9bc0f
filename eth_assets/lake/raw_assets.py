"""Raw extracts: transactions and token transfers, one partition per UTC block day."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from eth_assets.chain.retries import SOURCE_RETRY_POLICY, fail_without_retry_unless_transient
from eth_assets.chain.schemas import RAW_TABLES, RawTable
from eth_assets.features.feature_lineage import features_reading
from eth_assets.lake.partition_writes import WindowWrite, refuse_other_sources
from eth_assets.lake.partitions import daily_partitions
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.parquet_lake import ParquetLake


def _record_day_metadata(context: AssetExecutionContext, written: WindowWrite) -> None:
    """Attach rows, bytes and time range to each partition of the run."""
    by_day = {d.day.isoformat(): d for d in written.days}
    for key in context.partition_keys:
        stats = by_day.get(key)
        context.add_asset_metadata(
            {
                "dagster/row_count": stats.rows if stats else 0,
                "bytes": stats.bytes if stats else 0,
                "first_block_timestamp": str(stats.first_block_timestamp) if stats else "",
                "last_block_timestamp": str(stats.last_block_timestamp) if stats else "",
            },
            partition_key=key,
        )


def _compaction_metadata(written: WindowWrite) -> dict[str, object]:
    """How the table is read after the run: compact files written, and files a reader opens."""
    done = written.compaction
    if done is None:
        return {}
    return {
        "compacted_periods": ", ".join(done.written) or "none",
        "read_compact_files": done.compact_files,
        "read_day_files": done.day_files_read,
    }


def _run_metadata(written: WindowWrite, source: str) -> dict[str, object]:
    """Totals of the whole run's window, recorded once per partition event."""
    first = min(
        (d.first_block_timestamp for d in written.days if d.first_block_timestamp), default=None
    )
    last = max(
        (d.last_block_timestamp for d in written.days if d.last_block_timestamp), default=None
    )
    return {
        "source": source,
        "run_window": f"[{written.start.isoformat()}, {written.end.isoformat()})",
        "run_rows": written.rows,
        "run_bytes": written.bytes,
        "run_days_with_rows": len(written.days),
        "run_days_emptied": len(written.emptied_days),
        "run_days_shrunk": len(written.shrunk_days),
        "run_first_block_timestamp": str(first) if first else "",
        "run_last_block_timestamp": str(last) if last else "",
        **_compaction_metadata(written),
        **{k: MetadataValue.text(str(v)) for k, v in written.source_metadata.items()},
    }


# Why a missing optional column matters, beside the features it feeds (which are derived from the
# feature SQL: eth_assets/features/feature_lineage.py).
COLUMN_NOTES = {
    "receipt_gas_used": "fees fall back to gas limit × gas price and calls count by gas limit "
    "(check raw_transactions_have_receipts)",
    "receipt_status": "failed transactions count as successful",
    "receipt_contract_address": "contract creations do not name the created contract",
    "receipt_effective_gas_price": "fees use the gas price offered, not the one paid",
    "gas_price": "fees and the gas-price behaviour are unknown",
    "token_decimals": "token amounts cannot be scaled, so they are left out",
}


def missing_column_warning(table: str, column: str, source: str) -> str | None:
    """The warning for a column the source lacks (NULL in the lake), naming every feature that
    reads it; None when no feature does."""
    features = features_reading(table, column)
    if not features:
        return None
    note = COLUMN_NOTES.get(column)
    return (
        f"{table}: the source ({source}) has no {column} column, so it is NULL in the lake and "
        f"the {len(features)} features that read it are off: {', '.join(features)}"
        + (f" ({note})" if note else "")
    )


class RawConfig(Config):
    """Opt-ins for writes the lake otherwise refuses (each is logged day by day)."""

    replace_other_source: bool = Field(
        default=False,
        description="Replace days that another source (another ETH_ASSETS_SOURCE, Parquet "
        "folder or simulated seed) wrote. Off: such a run fails and changes nothing.",
    )
    allow_deleting_days: bool = Field(
        default=False,
        description="Delete days the lake holds but the source now has no rows for. Off: such a "
        "run fails and changes nothing.",
    )
    allow_shrinking_days: bool = Field(
        default=False,
        description="Replace days the lake holds by fewer rows (more than max_day_shrink_share "
        "of them lost: a partial day). Off: such a run fails, names each day with both row "
        "counts, and changes nothing.",
    )
    max_day_shrink_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of a day's rows a rewrite may lose without allow_shrinking_days "
        "(0: a day the lake holds may never shrink silently).",
    )


def check_window(context: AssetExecutionContext, chain_source: ChainSource) -> None:
    """Fail on a reversed partition range, or a window entirely outside the source's days."""
    keys = context.partition_key_range
    if keys.start > keys.end:
        raise ValueError(
            f"partition range {keys.start}...{keys.end} is reversed: the first day must not come "
            f"after the last (did you mean {keys.end}...{keys.start}?)"
        )
    span = chain_source.available_days()
    if span is not None:
        first, last = span
        if keys.end < first.isoformat() or keys.start > last.isoformat():
            raise ValueError(
                f"partitions {keys.start}...{keys.end} are outside the days the source "
                f"({chain_source.describe()}) holds: {first.isoformat()}...{last.isoformat()}"
            )


def build_raw_asset(table: RawTable) -> AssetsDefinition:
    """A daily-partitioned raw asset that replaces its days in the Parquet lake."""

    @asset(
        name=f"raw_{table.name}",
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        group_name="raw",
        kinds={"parquet", "duckdb"},
        description=(
            f"Raw `{table.bigquery_table}` rows of each UTC block day, in the BigQuery "
            "crypto_ethereum schema, stored as one Parquet file per day."
        ),
        tags={"storage": "lake"},
        # Transient source errors (quota, 5xx, timeouts) are retried with backoff; every other
        # error fails at once (see `fail_without_retry_unless_transient`).
        retry_policy=SOURCE_RETRY_POLICY,
    )
    def raw_asset(
        context: AssetExecutionContext,
        config: RawConfig,
        chain_source: ChainSource,
        lake: ParquetLake,
    ) -> MaterializeResult:
        window = context.partition_time_window
        try:
            # Before the source is asked for anything: a data dir belongs to one source.
            if not config.replace_other_source:
                refuse_other_sources(
                    lake.root_path(),
                    chain_source.describe(),
                    f"raw_{table.name}",
                    "`replace_other_source: true` in the raw assets' and illicit_labels' config "
                    "to switch this lake to it (then replace every day and rematerialize "
                    "everything downstream)",
                )
            check_window(context, chain_source)
            written = lake.replace_window(
                table.name,
                lambda con: chain_source.stage(con, table, window.start, window.end),
                window.start,
                window.end,
                chain_source.describe(),
                config.replace_other_source,
                config.allow_deleting_days,
                config.allow_shrinking_days,
                config.max_day_shrink_share,
            )
        except Exception as error:
            raise fail_without_retry_unless_transient(error) from error
        if written.emptied_days:
            context.log.info(
                f"{table.name}: deleted {len(written.emptied_days)} day(s) the source has no rows "
                f"for (allow_deleting_days): "
                + ", ".join(d.isoformat() for d in written.emptied_days)
            )
        if written.shrunk_days:
            context.log.warning(
                f"{table.name}: replaced {len(written.shrunk_days)} day(s) by fewer rows "
                "(allow_shrinking_days): " + "; ".join(c.text() for c in written.shrunk_days)
            )
        missing = [str(c) for c in written.source_metadata.get("columns_filled_with_null") or []]
        for column in missing:
            warning = missing_column_warning(table.name, column, chain_source.describe())
            if warning:
                context.log.warning(warning)
        if missing:
            context.log.info(f"{table.name}: columns the source lacks: {', '.join(missing)}")
        try:
            _record_day_metadata(context, written)
            metadata = _run_metadata(written, chain_source.describe())
        except Exception as error:
            written_but = RuntimeError(
                f"{table.name}: {written.rows} rows of {len(written.days)} days in "
                f"[{window.start.date()}, {window.end.date()}) WERE written to the lake, then "
                f"recording their metadata failed: {error}. The lake is complete; materialize "
                "the same range again to record it"
            )
            raise fail_without_retry_unless_transient(written_but) from error
        context.log.info(
            f"{table.name}: {written.rows} rows over {len(written.days)} days written "
            f"for [{window.start}, {window.end})"
        )
        return MaterializeResult(metadata=metadata)

    return raw_asset


raw_transactions = build_raw_asset(RAW_TABLES["transactions"])
raw_token_transfers = build_raw_asset(RAW_TABLES["token_transfers"])
