"""The feature state asset: per-day partial aggregates of the features, partitioned like the
raw tables, so that a night costs a day (docs/features.md#incremental-features)."""

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from eth_assets.features.state_run import refresh_state, state_folder
from eth_assets.features.state_store import compare_with_lake
from eth_assets.lake.partition_writes import days_in_window
from eth_assets.lake.partitions import daily_partitions
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets.settings import market_gas_prices_file

STATE_CHECK = "feature_state_matches_lake"


class FeatureStateConfig(Config):
    """How closely the check compares the state with the lake."""

    verify_checksums: bool = Field(
        default=False,
        description=(
            "Reread every lake day file and compare its SHA-256 with the one its state recorded "
            "(reads the whole lake). Off: rows, size, modification time and inode."
        ),
    )


@asset(
    deps=[raw_transactions, raw_token_transfers],
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="features",
    kinds={"parquet", "duckdb"},
    check_specs=[
        AssetCheckSpec(
            STATE_CHECK,
            asset="feature_state",
            blocking=True,
            description="Every lake day has a state built from its current files (rows and a "
            "fingerprint, or the SHA-256), and no state day outlives its lake day.",
        )
    ],
)
def feature_state(
    context: AssetExecutionContext,
    config: FeatureStateConfig,
    chain_source: ChainSource,
    lake: ParquetLake,
) -> MaterializeResult:
    """Per address and UTC day: counts, exact sums, min/max, first/last times and the pair
    tables the features need; the partitions' days and every stale day, each from its own
    lake files."""
    window = context.partition_time_window
    days = list(days_in_window(window.start, window.end))
    # a store of chosen accounts' histories knows only their days: the market comes from a file
    market_gas = None if chain_source.holds_complete_histories() else market_gas_prices_file()
    root = lake.root_path()
    with lake.naming_damaged_files():
        refresh = refresh_state(state_folder(root), root, days, context.run_id, market_gas)
        after = compare_with_lake(
            state_folder(root), root, verify_checksums=config.verify_checksums
        )
    if refresh.repaired:
        context.log.warning(
            f"feature_state: rebuilt {len(refresh.repaired)} day(s) whose lake files changed or "
            f"had no state: {', '.join(d.isoformat() for d in refresh.repaired[:10])}"
        )
    return MaterializeResult(
        metadata={
            "days_built": len(refresh.built),
            "days_repaired": MetadataValue.text(
                ", ".join(d.isoformat() for d in refresh.repaired) or "none"
            ),
            "days_removed": MetadataValue.text(
                ", ".join(d.isoformat() for d in refresh.removed) or "none"
            ),
            "seconds": round(refresh.seconds, 3),
            **{f"rows_{name}": rows for name, rows in refresh.rows.items()},
            "state": MetadataValue.path(str(state_folder(root))),
        },
        check_results=[
            AssetCheckResult(
                check_name=STATE_CHECK,
                passed=after.current,
                description=None if after.current else after.text(),
                metadata={
                    "compared": "SHA-256" if config.verify_checksums else "rows and fingerprint",
                    "disagreement": MetadataValue.text(after.text()),
                },
            )
        ],
    )
