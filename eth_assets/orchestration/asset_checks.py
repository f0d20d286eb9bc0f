"""Asset checks: what would silently poison the features and models if it went unnoticed."""

from collections.abc import Iterator

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    asset_check,
    multi_asset_check,
)

from eth_assets.common.duckdb_utils import connect
from eth_assets.labels.label_assets import illicit_labels
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets.resources.parquet_lake import ParquetLake

ADDRESS_PATTERN = "^0x[0-9a-f]{40}$"


def _scalar(con, lake: ParquetLake, table: str, expression: str) -> int:
    """One aggregate over a raw table's lake files."""
    row = con.execute(f"SELECT {expression} FROM ({lake.relation_sql(table)})").fetchall()
    return int(row[0][0] or 0) if row else 0


RAW_CHECKS = [
    AssetCheckSpec(
        "raw_transactions_unique_hashes",
        asset=raw_transactions,
        description="No transaction hash appears twice in the lake.",
    ),
    AssetCheckSpec(
        "raw_transactions_valid_addresses",
        asset=raw_transactions,
        description="Every address is lower-case 0x + 40 hex.",
    ),
    AssetCheckSpec(
        "raw_transactions_creations_have_contract",
        asset=raw_transactions,
        description="Contract creations (NULL to_address) name the created contract.",
    ),
    AssetCheckSpec(
        "raw_transactions_have_receipts",
        asset=raw_transactions,
        description="Every transaction has its receipt's gas used: without it fees, and so "
        "balances and gas features, fall back to the gas limit.",
    ),
    AssetCheckSpec(
        "raw_token_transfers_valid_addresses",
        asset=raw_token_transfers,
        description="Every token/from/to address is valid.",
    ),
]


# One step for the four raw checks: each step is a process that loads the code location, so
# four separate checks cost four process starts for four queries of milliseconds.
# What each raw check counts: (table, aggregate, passes when zero, severity).
RAW_CHECK_QUERIES: dict[str, tuple[str, str, str, AssetCheckSeverity]] = {
    "raw_transactions_unique_hashes": (
        "transactions",
        "count(*) - count(DISTINCT hash)",
        "duplicate_rows",
        AssetCheckSeverity.ERROR,
    ),
    "raw_transactions_valid_addresses": (
        "transactions",
        f"count(*) FILTER (WHERE NOT regexp_full_match(from_address, '{ADDRESS_PATTERN}') "
        f"OR (to_address IS NOT NULL AND NOT regexp_full_match(to_address, '{ADDRESS_PATTERN}')))",
        "invalid_rows",
        AssetCheckSeverity.ERROR,
    ),
    "raw_transactions_creations_have_contract": (
        "transactions",
        "count(*) FILTER (WHERE to_address IS NULL AND receipt_contract_address IS NULL "
        "AND coalesce(receipt_status, 1) = 1)",
        "creations_without_contract",
        AssetCheckSeverity.WARN,
    ),
    "raw_transactions_have_receipts": (
        "transactions",
        "count(*) FILTER (WHERE receipt_gas_used IS NULL)",
        "rows_without_receipt_gas_used",
        AssetCheckSeverity.WARN,
    ),
    "raw_token_transfers_valid_addresses": (
        "token_transfers",
        "count(*) FILTER (WHERE NOT ("
        + " AND ".join(
            f"regexp_full_match({column}, '{ADDRESS_PATTERN}')"
            for column in ("token_address", "from_address", "to_address")
        )
        + "))",
        "invalid_rows",
        AssetCheckSeverity.ERROR,
    ),
}


@multi_asset_check(
    specs=RAW_CHECKS, can_subset=True, description="Data quality of the raw lake tables."
)
def raw_data_quality(
    context: AssetCheckExecutionContext, lake: ParquetLake
) -> Iterator[AssetCheckResult]:
    """The selected raw checks (all, or those of the one raw table a run materializes)."""
    selected = {key.name: key for key in context.selected_asset_check_keys}
    con = connect()
    try:
        for name, (table, expression, count_name, severity) in RAW_CHECK_QUERIES.items():
            if name not in selected:
                continue
            with lake.naming_damaged_files():
                count = _scalar(con, lake, table, expression)
            yield AssetCheckResult(
                asset_key=selected[name].asset_key,
                check_name=name,
                passed=count == 0,
                severity=severity,
                metadata={count_name: count},
            )
    finally:
        con.close()


@asset_check(asset=illicit_labels, description="Labels are present and every address is valid.")
def illicit_labels_not_empty(lake: ParquetLake) -> AssetCheckResult:
    labels = pl.read_parquet(lake.table_path("illicit_labels"))
    invalid = labels.filter(~pl.col("address").str.contains(ADDRESS_PATTERN)).height
    return AssetCheckResult(
        passed=labels.height > 0 and invalid == 0,
        metadata={"rows": labels.height, "invalid_addresses": invalid},
    )


def all_checks() -> list[AssetChecksDefinition]:
    """Every asset check of the code location."""
    return [raw_data_quality, illicit_labels_not_empty]
