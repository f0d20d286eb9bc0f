"""Asset checks: what would silently poison the features and models if it went unnoticed."""

from collections.abc import Iterator

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    asset_check,
    multi_asset_check,
)

from eth_assets.assets.labels import illicit_labels
from eth_assets.assets.raw import raw_token_transfers, raw_transactions
from eth_assets.duckdb_utils import connect
from eth_assets.resources.lake import ParquetLake

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
        "raw_token_transfers_valid_addresses",
        asset=raw_token_transfers,
        description="Every token/from/to address is valid.",
    ),
]


# One step for the four raw checks: each step is a process that loads the code location, so
# four separate checks cost four process starts for four queries of milliseconds.
@multi_asset_check(specs=RAW_CHECKS, description="Data quality of the raw lake tables.")
def raw_data_quality(lake: ParquetLake) -> Iterator[AssetCheckResult]:
    con = connect()
    try:
        duplicates = _scalar(con, lake, "transactions", "count(*) - count(DISTINCT hash)")
        invalid_transactions = _scalar(
            con,
            lake,
            "transactions",
            f"count(*) FILTER (WHERE NOT regexp_full_match(from_address, '{ADDRESS_PATTERN}') "
            f"OR (to_address IS NOT NULL "
            f"AND NOT regexp_full_match(to_address, '{ADDRESS_PATTERN}')))",
        )
        missing = _scalar(
            con,
            lake,
            "transactions",
            "count(*) FILTER (WHERE to_address IS NULL AND receipt_contract_address IS NULL "
            "AND coalesce(receipt_status, 1) = 1)",
        )
        invalid_transfers = _scalar(
            con,
            lake,
            "token_transfers",
            "count(*) FILTER (WHERE NOT ("
            + " AND ".join(
                f"regexp_full_match({column}, '{ADDRESS_PATTERN}')"
                for column in ("token_address", "from_address", "to_address")
            )
            + "))",
        )
    finally:
        con.close()
    yield AssetCheckResult(
        asset_key=raw_transactions.key,
        check_name="raw_transactions_unique_hashes",
        passed=duplicates == 0,
        metadata={"duplicate_rows": duplicates},
    )
    yield AssetCheckResult(
        asset_key=raw_transactions.key,
        check_name="raw_transactions_valid_addresses",
        passed=invalid_transactions == 0,
        metadata={"invalid_rows": invalid_transactions},
    )
    yield AssetCheckResult(
        asset_key=raw_transactions.key,
        check_name="raw_transactions_creations_have_contract",
        passed=missing == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"creations_without_contract": missing},
    )
    yield AssetCheckResult(
        asset_key=raw_token_transfers.key,
        check_name="raw_token_transfers_valid_addresses",
        passed=invalid_transfers == 0,
        metadata={"invalid_rows": invalid_transfers},
    )


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
