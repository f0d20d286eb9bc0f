"""The xblock_2019 set (Etherscan `txlist` histories of sampled normal and phishing accounts)
read into the pipeline's raw schema, and the pipeline's features that set can support.

Plain functions, no Dagster. The set has only the accounts' normal transactions: no gas, gas
price or receipt columns, no token transfers. `UNSUPPORTED` names the features that need them
(never computed as silent zeros); docs/classifier.md#xblock_2019-what-its-schema-supports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS, RawTable
from eth_assets.chain.source_columns import SourceDataError
from eth_assets.common.chain_time import as_utc
from eth_assets.common.duckdb_utils import connect, sql_literal
from eth_assets.features.as_of import end_of_day
from eth_assets.features.feature_tables import (
    BEHAVIOUR_COLUMNS,
    FEATURE_COLUMNS,
    features_of_addresses,
)

TRANSACTIONS_FILE = "transactions.parquet"
ACCOUNTS_FILE = "accounts.csv"
# The first Byzantium block: before it a receipt has no status, and BigQuery's is NULL.
BYZANTIUM_BLOCK = 4_370_000

# The schema columns the set carries, as SQL over its transactions.parquet; every other column
# of TRANSACTIONS is NULL (nonce, transaction_index, gas, gas_price, receipt_gas_used,
# receipt_contract_address, receipt_effective_gas_price, block_hash).
XBLOCK_EXPRESSIONS: dict[str, str] = {
    "hash": "lower(hash)",
    "from_address": "lower(from_address)",
    "to_address": "lower(to_address)",
    "value": "trim(CAST(value_wei AS VARCHAR))",
    "receipt_status": (
        f"CASE WHEN CAST(block_number AS BIGINT) >= {BYZANTIUM_BLOCK} "
        "THEN 1 - CAST(is_error AS BIGINT) END"
    ),
    "block_timestamp": "block_timestamp",
    "block_number": "block_number",
}
LACKING_COLUMNS: tuple[str, ...] = tuple(
    name for name in TRANSACTIONS.column_names if name not in XBLOCK_EXPRESSIONS
)

TRANSACTION_COLUMNS = (
    "account", "group", "hash", "block_number", "block_timestamp", "from_address",
    "to_address", "value_wei", "is_error",
)  # fmt: skip
ACCOUNT_COLUMNS = ("address", "group", "label", "first_ts", "in_raw_txns", "in_phish_2022")
GROUP_LABELS = {"normal": 0, "phishing": 1}
# Columns of `xblock_features` before the features: who the account is, never model inputs.
ACCOUNT_INFO_COLUMNS = (
    "address", "first_activity", "label", "group", "in_raw_txns", "in_phish_2022",
)  # fmt: skip

_ADDRESS = "0x[0-9a-fA-F]{40}"
_TX_CHECKS: tuple[tuple[str, str, str], ...] = (  # column, SQL true for a bad value, expected
    ("account", f"NOT regexp_full_match(coalesce(v, ''), '{_ADDRESS}')", "an address"),
    ("hash", "NOT regexp_full_match(coalesce(v, ''), '0x[0-9a-fA-F]{64}')", "a transaction hash"),
    ("from_address", f"NOT regexp_full_match(coalesce(v, ''), '{_ADDRESS}')", "an address"),
    ("to_address", f"NOT regexp_full_match(v, '{_ADDRESS}')", "an address or NULL (a creation)"),
    ("block_number", "coalesce(TRY_CAST(v AS BIGINT) < 0, true)", "a block number"),
    ("block_timestamp", "TRY_CAST(v AS TIMESTAMPTZ) IS NULL", "a UTC timestamp"),
    (
        "value_wei",
        "NOT regexp_full_match(trim(coalesce(v, '')), '[0-9]{1,38}')",
        "an integer amount of wei (digits only, at most 38)",
    ),
    ("is_error", "coalesce(TRY_CAST(v AS BIGINT) NOT IN (0, 1), true)", "0 or 1"),
)
_ACCOUNT_CHECKS: tuple[tuple[str, str, str], ...] = (
    ("address", f"NOT regexp_full_match(coalesce(v, ''), '{_ADDRESS}')", "an address"),
    ("group", "coalesce(v NOT IN ('normal', 'phishing'), true)", "normal or phishing"),
    ("label", "coalesce(trim(v) NOT IN ('0', '1'), true)", "0 or 1"),
    ("first_ts", "TRY_CAST(v AS TIMESTAMPTZ) IS NULL", "a UTC timestamp"),
    ("in_raw_txns", "TRY_CAST(v AS BOOLEAN) IS NULL", "true or false"),
    ("in_phish_2022", "TRY_CAST(v AS BOOLEAN) IS NULL", "true or false"),
)

_TOKENS = "token_transfers: the set has no token transfers"
_TO_CONTRACT = (
    "receipt_gas_used: ether into a contract is a creation or a call that used more than 21,000 "
    "gas; without it only creations count"
)
_CREATED = "receipt_contract_address: the set's contract_address is always NULL, so {what} is lost"
_GAS_PRICE = "gas_price: the set has no gas price"
_TOKEN_FEATURES = [
    *(column for column in FEATURE_COLUMNS if "erc20" in column),
    "unique_tokens_held",
    "unique_token_transfers",
]
# Feature → the missing column it needs. Checked on the real sample reduced to these columns
# (eth_assets_tests/test_xblock.py): each differs there for at least one account.
UNSUPPORTED: dict[str, str] = {
    "unique_sent_to_addresses": _CREATED.format(what="a contract the account created"),
    "time_diff_between_first_and_last_mins": _CREATED.format(
        what="a contract account's own creation (its first moment)"
    ),
    "total_transactions": _CREATED.format(what="a contract account's own creation"),
    "min_value_sent_to_contract": _TO_CONTRACT,
    "max_val_sent_to_contract": _TO_CONTRACT,
    "avg_value_sent_to_contract": _TO_CONTRACT,
    "total_ether_sent_contracts": _TO_CONTRACT,
    **{column: _TOKENS for column in _TOKEN_FEATURES},
    "balance_eth": (
        "receipt_gas_used, gas_price, receipt_effective_gas_price (the fees it paid) and "
        "receipt_contract_address (a contract's endowment)"
    ),
    "contract_call_share": (
        "receipt_gas_used and gas: a call is a transaction using more than 21,000 gas; "
        "without them only creations count"
    ),
    "gas_price_vs_day": _GAS_PRICE,
    "gas_price_cv": _GAS_PRICE,
    "distinct_gas_price_share": _GAS_PRICE,
    "gas_used_ratio": "receipt_gas_used and gas: the set has neither",
}
# Every feature column of address_features and behaviour_features that the set supports.
SUPPORTED: tuple[str, ...] = tuple(
    column for column in (*FEATURE_COLUMNS, *BEHAVIOUR_COLUMNS) if column not in UNSUPPORTED
)


@dataclass(frozen=True)
class XblockSet:
    """The set in the pipeline's raw schema: `transactions` (TRANSACTIONS, one row per hash),
    `token_transfers` (TOKEN_TRANSFERS, empty), `accounts` and the cutoff after its crawl."""

    folder: Path
    transactions: pa.Table
    token_transfers: pa.Table
    accounts: pa.Table  # address, group, label (0 normal, 1 phishing), first_ts, in_raw_txns, …
    as_of: datetime  # midnight UTC after the last transaction's day


def read_xblock(folder: str | Path) -> XblockSet:
    """Validate `folder`'s transactions.parquet and accounts.csv and map them onto the raw
    schema; a SourceDataError names the file, column and value at fault."""
    folder = Path(folder)
    tx_path, accounts_path = folder / TRANSACTIONS_FILE, folder / ACCOUNTS_FILE
    for path in (tx_path, accounts_path):
        if not path.is_file():
            raise SourceDataError(
                f"{path} not found: an xblock_2019 folder holds {TRANSACTIONS_FILE} and "
                f"{ACCOUNTS_FILE} (e.g. $ETH_ASSETS_SHARED_DATA/xblock_2019)"
            )
    con = connect()
    try:
        con.execute(
            "CREATE TEMP VIEW source_accounts AS SELECT * FROM read_csv("
            f"{sql_literal(str(accounts_path))}, header = true, all_varchar = true)"
        )
        con.execute(
            "CREATE TEMP VIEW source_transactions AS SELECT * FROM read_parquet("
            f"{sql_literal(str(tx_path))}, file_row_number = true)"
        )
        _require_columns(con, "source_accounts", ACCOUNT_COLUMNS, accounts_path)
        _require_columns(con, "source_transactions", TRANSACTION_COLUMNS, tx_path)
        for column, bad, expected in _ACCOUNT_CHECKS:
            _check_values(con, "source_accounts", column, bad, expected, accounts_path, "address")
        for column, bad, expected in _TX_CHECKS:
            _check_values(con, "source_transactions", column, bad, expected, tx_path, "hash")
        accounts = _read_accounts(con, accounts_path)
        _check_accounts_of_transactions(con, tx_path)
        transactions = _mapped_transactions(con, tx_path)
        last = con.sql("SELECT max(block_timestamp) FROM transactions").fetchall()[0][0]
        if last is None:
            raise SourceDataError(f"{tx_path} has no transactions")
        return XblockSet(
            folder=folder,
            transactions=transactions,
            token_transfers=empty_table(con, TOKEN_TRANSFERS),
            accounts=accounts,
            as_of=end_of_day(as_utc(last).date()),
        )
    finally:
        con.close()


def _require_columns(
    con: duckdb.DuckDBPyConnection, relation: str, columns: Sequence[str], path: Path
) -> None:
    """Stop naming the file and the first missing column."""
    found = [row[0] for row in con.execute(f"DESCRIBE {relation}").fetchall()]
    missing = [column for column in columns if column not in found]
    if missing:
        raise SourceDataError(
            f"{path}: missing column {missing[0]!r} (needs {', '.join(columns)}; found: "
            f"{', '.join(c for c in found if c != 'file_row_number')})"
        )


def _check_values(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    column: str,
    bad: str,
    expected: str,
    path: Path,
    key: str,
) -> None:
    """Stop at the first value of `column` for which `bad` (over `v`) holds, quoting it."""
    row_number = "file_row_number" if relation == "source_transactions" else "NULL"
    found = con.execute(
        f'SELECT v, CAST("{key}" AS VARCHAR), {row_number} FROM '
        f'(SELECT *, CAST("{column}" AS VARCHAR) AS v FROM {relation}) WHERE {bad} LIMIT 1'
    ).fetchall()
    if found:
        value, key_value, row = found[0]
        where = f"row {row} ({key} {key_value})" if row is not None else f"{key} {key_value}"
        raise SourceDataError(
            f"{path}: column {column!r} holds {value!r} in {where}, not {expected}; "
            "correct the file or export it again"
        )


def _read_accounts(con: duckdb.DuckDBPyConnection, path: Path) -> pa.Table:
    """The accounts, typed, as table `accounts`; stops on a repeated address or a label that
    contradicts the group."""
    con.execute(
        'CREATE TEMP TABLE accounts AS SELECT lower(address) AS address, "group", '
        "CAST(trim(label) AS INTEGER) AS label, CAST(first_ts AS TIMESTAMPTZ) AS first_ts, "
        "CAST(in_raw_txns AS BOOLEAN) AS in_raw_txns, "
        "CAST(in_phish_2022 AS BOOLEAN) AS in_phish_2022 FROM source_accounts ORDER BY address"
    )
    repeated = con.sql(
        "SELECT address FROM accounts GROUP BY address HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    if repeated:
        raise SourceDataError(f"{path}: address {repeated[0][0]} is listed more than once")
    cases = " ".join(f"WHEN {sql_literal(g)} THEN {label}" for g, label in GROUP_LABELS.items())
    wrong = con.sql(
        f'SELECT address, "group", label FROM accounts WHERE label <> CASE "group" {cases} END '
        "LIMIT 1"
    ).fetchall()
    if wrong:
        address, group, label = wrong[0]
        raise SourceDataError(
            f"{path}: address {address} has label {label} but group {group!r} "
            f"(labels: {GROUP_LABELS})"
        )
    return con.sql("SELECT * FROM accounts").to_arrow_table()


def _check_accounts_of_transactions(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Every transaction's account is in accounts.csv, with the same group."""
    stray = con.sql(
        'SELECT lower(t.account), t."group", a."group" FROM source_transactions AS t '
        "LEFT JOIN accounts AS a ON a.address = lower(t.account) "
        'WHERE a.address IS NULL OR a."group" <> t."group" LIMIT 1'
    ).fetchall()
    if stray:
        account, group, listed = stray[0]
        problem = f"not in {ACCOUNTS_FILE}" if listed is None else f"of group {listed!r} there"
        raise SourceDataError(
            f"{path}: account {account} (group {group!r}) is {problem}; the two files must "
            "come from the same export"
        )


def _mapped_transactions(con: duckdb.DuckDBPyConnection, path: Path) -> pa.Table:
    """The transactions in TRANSACTIONS' columns and types, one row per hash, as table
    `transactions`; stops when two rows of one hash disagree."""
    selected = ", ".join(
        f'CAST({XBLOCK_EXPRESSIONS.get(name, "NULL")} AS {sql_type}) AS "{name}"'
        for name, sql_type in TRANSACTIONS.columns
    )
    con.execute(
        f"CREATE TEMP TABLE transactions AS SELECT DISTINCT {selected} FROM source_transactions"
    )
    conflict = con.sql(
        "SELECT hash FROM transactions GROUP BY hash HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    if conflict:
        raise SourceDataError(
            f"{path}: transaction {conflict[0][0]} is listed twice with different block, "
            "addresses, value_wei or is_error"
        )
    return con.sql(
        "SELECT * FROM transactions ORDER BY block_number, block_timestamp, hash"
    ).to_arrow_table()


def empty_table(con: duckdb.DuckDBPyConnection, raw: RawTable) -> pa.Table:
    """A table of `raw`'s columns and types with no rows."""
    selected = ", ".join(f'CAST(NULL AS {sql_type}) AS "{name}"' for name, sql_type in raw.columns)
    return con.sql(f"SELECT {selected} LIMIT 0").to_arrow_table()


def reduced_to_xblock(relation_sql: str) -> str:
    """`relation_sql` (a SELECT in TRANSACTIONS' columns) keeping only what the set carries:
    the lacking columns NULL, receipt_status NULL before Byzantium."""
    kept = {name: f'"{name}"' for name in TRANSACTIONS.column_names if name not in LACKING_COLUMNS}
    kept["receipt_status"] = f"CASE WHEN block_number >= {BYZANTIUM_BLOCK} THEN receipt_status END"
    selected = ", ".join(
        f'CAST({kept.get(name, "NULL")} AS {sql_type}) AS "{name}"'
        for name, sql_type in TRANSACTIONS.columns
    )
    return f"SELECT {selected} FROM ({relation_sql}) AS full_transactions"


class _Registered:
    """The lake views over Arrow tables registered as `xblock_<table>`."""

    def relation_sql(self, table_name: str) -> str:
        return f"SELECT * FROM xblock_{table_name}"


_FIRST_ACTIVITY_SQL = """
SELECT u.address, MIN(t.block_timestamp) AS first_activity
FROM universe AS u
LEFT JOIN (
    SELECT from_address AS address, block_timestamp FROM transactions
    WHERE block_timestamp < CAST($as_of AS TIMESTAMPTZ)
    UNION ALL
    SELECT to_address AS address, block_timestamp FROM transactions
    WHERE block_timestamp < CAST($as_of AS TIMESTAMPTZ)
) AS t ON t.address = u.address
GROUP BY u.address
"""


def pipeline_features(
    transactions: pa.Table,
    token_transfers: pa.Table,
    addresses: Sequence[str],
    as_of: datetime,
) -> pl.DataFrame:
    """address_features and behaviour_features of `addresses` over these raw tables as of
    `as_of` (a fresh in-memory DuckDB), plus `first_activity`; sorted by address."""
    con = connect()
    try:
        con.register("xblock_transactions", transactions)
        con.register("xblock_token_transfers", token_transfers)
        features = features_of_addresses(con, _Registered(), addresses, as_of)
        first = con.sql(_FIRST_ACTIVITY_SQL, params={"as_of": as_utc(as_of)}).pl()
    finally:
        con.close()
    return features.join(first, on="address", how="left").sort("address")


def xblock_features(xblock: XblockSet) -> pl.DataFrame:
    """One row per account as of `xblock.as_of`: who it is (ACCOUNT_INFO_COLUMNS), then the
    SUPPORTED features only."""
    accounts = pl.from_arrow(xblock.accounts)
    assert isinstance(accounts, pl.DataFrame)
    features = pipeline_features(
        xblock.transactions,
        xblock.token_transfers,
        accounts["address"].to_list(),
        xblock.as_of,
    )
    joined = accounts.join(features, on="address", how="left")
    return joined.select(*ACCOUNT_INFO_COLUMNS, *SUPPORTED).sort("address")


def supported_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The columns `xblock_features` gives, from a full feature frame (account columns where
    present): to train elsewhere on the features the set supports."""
    missing = [column for column in ("address", *SUPPORTED) if column not in frame.columns]
    if missing:
        raise ValueError(
            f"feature frame lacks {', '.join(missing)}: pass address_features joined to "
            "behaviour_features (e.g. features_of_addresses)"
        )
    info = [column for column in ACCOUNT_INFO_COLUMNS if column in frame.columns]
    return frame.select(*info, *SUPPORTED)
