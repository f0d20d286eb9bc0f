"""Mapping a source's columns onto the canonical raw columns (plain functions, no Dagster).

Shared by every chain source and by the scripts and benchmarks that read Parquet directly, so
there is one definition of which names are accepted and how each is converted.
"""

from __future__ import annotations

from eth_assets.schemas import RawTable


class SourceDataError(ValueError):
    """The source's files or results do not fit the expected schema; the message says how."""


# Accepted column names per canonical column: BigQuery's first, then ethereum-etl's and cryo's.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "hash": ("hash", "transaction_hash"),
    "gas": ("gas", "gas_limit"),
    "receipt_gas_used": ("receipt_gas_used", "gas_used"),
    "receipt_contract_address": ("receipt_contract_address", "contract_address"),
    "receipt_status": ("receipt_status", "status", "success"),
    "receipt_effective_gas_price": ("receipt_effective_gas_price", "effective_gas_price"),
    "block_timestamp": ("block_timestamp", "timestamp"),
    "token_address": ("token_address", "erc20"),
    "value": ("value", "value_string"),
    "token_decimals": ("token_decimals", "decimals"),
    "token_symbol": ("token_symbol", "symbol"),
    "token_name": ("token_name", "name"),
}

_HEX_COLUMNS = {
    "hash", "from_address", "to_address", "receipt_contract_address", "block_hash",
    "token_address", "transaction_hash",
}  # fmt: skip


def _column_expression(canonical: str, source_column: str, source_type: str) -> str:
    """DuckDB expression turning one source column into the canonical column's meaning."""
    col = f'"{source_column}"'
    upper = source_type.upper()
    if canonical in _HEX_COLUMNS:
        return f"lower('0x' || hex({col}))" if upper == "BLOB" else f"lower({col})"
    if canonical == "block_timestamp" and upper in {"INTEGER", "BIGINT", "UINTEGER", "UBIGINT"}:
        return f"to_timestamp({col})"
    if canonical == "block_timestamp" and upper == "TIMESTAMP":
        return f"timezone('UTC', {col})"
    if canonical == "receipt_status" and upper == "BOOLEAN":
        return f"CAST({col} AS BIGINT)"
    if canonical == "value" and upper in {"DOUBLE", "FLOAT", "BLOB"}:
        raise SourceDataError(
            f"column {source_column!r} holds amounts as {upper}; exact integer amounts as numbers "
            "or decimal strings are required (cryo: export with --u256-types string)"
        )
    return col


def map_columns(
    table: RawTable, available: dict[str, str], where: str
) -> tuple[list[str], list[str]]:
    """SELECT expressions for the canonical columns from `available` (name → DuckDB type).

    Returns (expressions, canonical columns that were filled with NULL). Raises SourceDataError
    naming `where`, the missing column and its accepted names when a required column is absent.
    """
    expressions: list[str] = []
    nulls: list[str] = []
    for name, sql_type in table.columns:
        aliases = COLUMN_ALIASES.get(name, (name,))
        found = next((a for a in aliases if a in available), None)
        if found is None:
            if name in table.required:
                raise SourceDataError(
                    f"{where}: required column {name!r} is missing "
                    f"(accepted names: {', '.join(aliases)}; found: {', '.join(sorted(available))})"
                )
            expressions.append(f'CAST(NULL AS {sql_type}) AS "{name}"')
            nulls.append(name)
            continue
        expr = _column_expression(name, found, available[found])
        expressions.append(f'CAST({expr} AS {sql_type}) AS "{name}"')
    return expressions, nulls
