"""Canonical column sets of the raw lake tables (a subset of BigQuery's `crypto_ethereum`).

Every chain source produces exactly these columns, in this order and with these DuckDB types,
so everything downstream reads one schema whatever the source.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawTable:
    """A raw table: its lake name, the BigQuery table it mirrors and its typed columns."""

    name: str
    bigquery_table: str
    columns: tuple[tuple[str, str], ...]
    required: frozenset[str]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


TRANSACTIONS = RawTable(
    name="transactions",
    bigquery_table="transactions",
    columns=(
        ("hash", "VARCHAR"),
        ("nonce", "BIGINT"),
        ("transaction_index", "BIGINT"),
        ("from_address", "VARCHAR"),
        ("to_address", "VARCHAR"),  # NULL on contract creation
        ("value", "DECIMAL(38,0)"),  # wei, exact
        ("gas", "BIGINT"),
        ("gas_price", "BIGINT"),
        ("receipt_gas_used", "BIGINT"),
        ("receipt_contract_address", "VARCHAR"),  # the new contract on creation
        ("receipt_status", "BIGINT"),  # 1 ok, 0 failed, NULL before Byzantium
        ("receipt_effective_gas_price", "BIGINT"),  # NULL where the source lacks it
        ("block_timestamp", "TIMESTAMPTZ"),
        ("block_number", "BIGINT"),
        ("block_hash", "VARCHAR"),
    ),
    required=frozenset(
        {"hash", "from_address", "to_address", "value", "block_timestamp", "block_number"}
    ),
)

TOKEN_TRANSFERS = RawTable(
    name="token_transfers",
    bigquery_table="token_transfers",
    columns=(
        ("token_address", "VARCHAR"),
        ("from_address", "VARCHAR"),
        ("to_address", "VARCHAR"),
        ("value", "VARCHAR"),  # raw integer units as a string: may exceed 38 digits
        ("transaction_hash", "VARCHAR"),
        ("log_index", "BIGINT"),  # NULL where the source lacks it
        ("block_timestamp", "TIMESTAMPTZ"),
        ("block_number", "BIGINT"),
        ("block_hash", "VARCHAR"),
        ("token_name", "VARCHAR"),  # from BigQuery `tokens` where joined
        ("token_symbol", "VARCHAR"),
        ("token_decimals", "INTEGER"),  # NULL where unknown
    ),
    required=frozenset(
        {
            "token_address",
            "from_address",
            "to_address",
            "value",
            "transaction_hash",
            "block_timestamp",
        }
    ),
)

RAW_TABLES: dict[str, RawTable] = {t.name: t for t in (TRANSACTIONS, TOKEN_TRANSFERS)}
