"""Mapping a source's columns onto the canonical raw columns (plain functions, no Dagster).

Shared by every chain source and by the scripts and benchmarks that read Parquet directly, so
there is one definition of which names are accepted and how each is converted.
"""

from __future__ import annotations

from eth_assets.chain.schemas import RawTable
from eth_assets.common.duckdb_utils import sql_literal


class SourceDataError(ValueError):
    """The source's files or results do not fit the expected schema; the message says how."""


class TransientSourceError(RuntimeError):
    """The source failed in a way worth another attempt later (rate limit or 429, a 5xx, a
    timeout, a dropped connection); the message names the table, window and job or error.

    The only source error a retry policy should retry: everything else fails for good.
    """


class SourceAccessError(RuntimeError):
    """The source refused access (credentials, permission, billing, a long-term quota); no retry
    helps, and the message says which variable to set or permission to grant."""


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


def _integer_amount(col: str, source_column: str, where: str, row_id: str, numeric: bool) -> str:
    """`col` (text) when it is a plain non-negative integer, else a query error naming the
    column, the value and the row (DuckDB's `error()`), instead of a silent rounding or NULL."""
    message = (
        f"{sql_literal(f'{where}: column {source_column!r} holds ')} || "
        f"coalesce(CAST({col} AS VARCHAR), 'NULL') || "
        f"{sql_literal(' in row ')} || {row_id} || "
        f"{sql_literal(', not an integer amount (digits only: wei or raw token units)')}"
    )
    if numeric:
        whole = f"{col} IS NULL OR ({col} >= 0 AND {col} = trunc({col}))"
        return f"CASE WHEN {whole} THEN {col} ELSE error({message}) END"
    return (
        f"CASE WHEN {col} IS NULL OR regexp_full_match(trim({col}), '[0-9]+') "
        f"THEN trim({col}) ELSE error({message}) END"
    )


def _column_expression(
    canonical: str, source_column: str, source_type: str, where: str = "", row_id: str = "''"
) -> str:
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
            f"{where}: column {source_column!r} holds amounts as {upper}; exact integer amounts "
            "as numbers or decimal strings are required (cryo: export with --u256-types string)"
        )
    if canonical == "value" and (upper.startswith("VARCHAR") or upper.startswith("DECIMAL")):
        return _integer_amount(col, source_column, where, row_id, upper.startswith("DECIMAL"))
    return col


def _row_identity(table: RawTable, available: dict[str, str]) -> str:
    """A SQL text expression naming a source row in error messages: its transaction hash (and
    log index), and its file when the source read it with `filename = true`."""
    parts = []
    hash_column = next((a for a in COLUMN_ALIASES["hash"] if a in available), None)
    if hash_column is not None:
        expression = _column_expression("hash", hash_column, available[hash_column])
        parts.append(f"'transaction ' || coalesce({expression}, '?')")
    if "log_index" in available and table.name != "transactions":
        parts.append("', log ' || coalesce(CAST(\"log_index\" AS VARCHAR), '?')")
    if "filename" in available:
        parts.append("' of file ' || \"filename\"")
    return " || ".join(parts) or "'?'"


def map_columns(
    table: RawTable, available: dict[str, str], where: str
) -> tuple[list[str], list[str]]:
    """SELECT expressions for the canonical columns from `available` (name → DuckDB type).

    Returns (expressions, canonical columns that were filled with NULL). Raises SourceDataError
    naming `where`, the missing column and its accepted names when a required column is absent.
    """
    expressions: list[str] = []
    nulls: list[str] = []
    row_id = _row_identity(table, available)
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
        expr = _column_expression(name, found, available[found], where, row_id)
        expressions.append(f'CAST({expr} AS {sql_type}) AS "{name}"')
    return expressions, nulls
