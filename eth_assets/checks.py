"""Asset checks: what would silently poison the features and models if it went unnoticed."""

import polars as pl
from dagster import AssetCheckResult, AssetChecksDefinition, AssetCheckSeverity, asset_check

from eth_assets.assets.labels import illicit_labels
from eth_assets.assets.raw import raw_token_transfers, raw_transactions
from eth_assets.duckdb_utils import connect
from eth_assets.resources.lake import ParquetLake

ADDRESS_PATTERN = "^0x[0-9a-f]{40}$"


def _scalar(lake: ParquetLake, table: str, expression: str) -> int:
    """One aggregate over a raw table's lake files."""
    con = connect()
    try:
        row = con.execute(f"SELECT {expression} FROM ({lake.relation_sql(table)})").fetchone()
    finally:
        con.close()
    return int(row[0] or 0) if row else 0


@asset_check(asset=raw_transactions, description="No transaction hash appears twice in the lake.")
def raw_transactions_unique_hashes(lake: ParquetLake) -> AssetCheckResult:
    duplicates = _scalar(lake, "transactions", "count(*) - count(DISTINCT hash)")
    return AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_rows": duplicates})


@asset_check(asset=raw_transactions, description="Every address is lower-case 0x + 40 hex.")
def raw_transactions_valid_addresses(lake: ParquetLake) -> AssetCheckResult:
    invalid = _scalar(
        lake,
        "transactions",
        f"count(*) FILTER (WHERE NOT regexp_full_match(from_address, '{ADDRESS_PATTERN}') "
        f"OR (to_address IS NOT NULL AND NOT regexp_full_match(to_address, '{ADDRESS_PATTERN}')))",
    )
    return AssetCheckResult(passed=invalid == 0, metadata={"invalid_rows": invalid})


@asset_check(
    asset=raw_transactions,
    description="Contract creations (NULL to_address) name the created contract.",
)
def raw_transactions_creations_have_contract(lake: ParquetLake) -> AssetCheckResult:
    missing = _scalar(
        lake,
        "transactions",
        "count(*) FILTER (WHERE to_address IS NULL AND receipt_contract_address IS NULL "
        "AND coalesce(receipt_status, 1) = 1)",
    )
    return AssetCheckResult(
        passed=missing == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"creations_without_contract": missing},
    )


@asset_check(asset=raw_token_transfers, description="Every token/from/to address is valid.")
def raw_token_transfers_valid_addresses(lake: ParquetLake) -> AssetCheckResult:
    invalid = _scalar(
        lake,
        "token_transfers",
        "count(*) FILTER (WHERE NOT ("
        + " AND ".join(
            f"regexp_full_match({column}, '{ADDRESS_PATTERN}')"
            for column in ("token_address", "from_address", "to_address")
        )
        + "))",
    )
    return AssetCheckResult(passed=invalid == 0, metadata={"invalid_rows": invalid})


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
    return [
        raw_transactions_unique_hashes,
        raw_transactions_valid_addresses,
        raw_transactions_creations_have_contract,
        raw_token_transfers_valid_addresses,
        illicit_labels_not_empty,
    ]
