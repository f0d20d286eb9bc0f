"""What one night of the bigquery feature engine bills: the raw partitions its state script reads
(one day of `transactions` / `token_transfers`, and `tokens` for decimals), per statement.

Without credentials (the default) it estimates: the columns each statement reads are found by
sqlglot's optimizer on the very SQL the engine sends, and each column is priced at BigQuery's
logical size (INT64 / TIMESTAMP 8 bytes, NUMERIC 16, STRING 2 + its length, NULL 0) times the
day's rows. With `--dry-run` and Google credentials it asks BigQuery itself (a dry run of each
statement's query for the given day: `total_bytes_processed`, nothing billed). Not a test.

    python bench/bigquery_night.py [--day 2025-06-01] [--transactions 1200000]
        [--token-transfers 1500000] [--tokens 1500000] [--dry-run]
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

import sqlglot
from sqlglot import exp
from sqlglot.optimizer import optimize

from eth_assets.common.chain_time import start_of_day
from eth_assets.features.state_pushdown import PUSHED_STATE_TABLES, state_window_sql
from eth_assets.settings import DEFAULT_BQ_DATASET

# crypto_ethereum's columns the state queries may read: BigQuery type and the average logical
# bytes of a value (0x-hex strings have fixed lengths; `null_share` of values are NULL).
ADDRESS, HASH = 2 + 42, 2 + 66
COLUMNS: dict[str, dict[str, tuple[str, float, float]]] = {
    "transactions": {
        "hash": ("STRING", HASH, 0.0),
        "nonce": ("INT64", 8, 0.0),
        "transaction_index": ("INT64", 8, 0.0),
        "from_address": ("STRING", ADDRESS, 0.0),
        "to_address": ("STRING", ADDRESS, 0.005),  # contract creations
        "value": ("NUMERIC", 16, 0.0),
        "gas": ("INT64", 8, 0.0),
        "gas_price": ("INT64", 8, 0.0),
        "receipt_gas_used": ("INT64", 8, 0.0),
        "receipt_contract_address": ("STRING", ADDRESS, 0.995),
        "receipt_status": ("INT64", 8, 0.0),
        "receipt_effective_gas_price": ("INT64", 8, 0.0),
        "block_timestamp": ("TIMESTAMP", 8, 0.0),
        "block_number": ("INT64", 8, 0.0),
        "block_hash": ("STRING", HASH, 0.0),
    },
    "token_transfers": {
        "token_address": ("STRING", ADDRESS, 0.0),
        "from_address": ("STRING", ADDRESS, 0.0),
        "to_address": ("STRING", ADDRESS, 0.0),
        "value": ("STRING", 2 + 20, 0.0),  # decimal digits of a uint256 amount, ~20 on average
        "transaction_hash": ("STRING", HASH, 0.0),
        "log_index": ("INT64", 8, 0.0),
        "block_timestamp": ("TIMESTAMP", 8, 0.0),
        "block_number": ("INT64", 8, 0.0),
        "block_hash": ("STRING", HASH, 0.0),
    },
    "tokens": {  # not partitioned: every statement that reads it reads all of it
        "address": ("STRING", ADDRESS, 0.0),
        "symbol": ("STRING", 2 + 6, 0.1),
        "name": ("STRING", 2 + 14, 0.1),
        "decimals": ("STRING", 2 + 2, 0.1),
    },
}
SCHEMA = {
    "bigquery-public-data": {
        "crypto_ethereum": {
            table: {name: kind for name, (kind, _, _) in columns.items()}
            for table, columns in COLUMNS.items()
        }
    }
}


def columns_read(sql: str) -> dict[str, set[str]]:
    """The raw columns a query reads, by table (after sqlglot prunes its projections)."""
    tree = optimize(sqlglot.parse_one(sql, read="bigquery"), schema=SCHEMA, dialect="bigquery")
    read: dict[str, set[str]] = {}
    for table in tree.find_all(exp.Table):
        if table.name in COLUMNS and table.args.get("db"):
            select = table.parent_select
            alias = table.alias_or_name
            names = {c.name for c in select.find_all(exp.Column) if c.table == alias}
            read.setdefault(table.name, set()).update(names)
    return read


def estimated_bytes(read: dict[str, set[str]], rows: dict[str, int]) -> int:
    return round(
        sum(
            rows[table] * COLUMNS[table][name][1] * (1 - COLUMNS[table][name][2])
            for table, names in read.items()
            for name in names
        )
    )


def dry_run_bytes(sql: str, day: date) -> int:
    """BigQuery's own figure for the query over `day` (a dry run: nothing billed)."""
    from google.cloud import bigquery  # credentials from the environment

    config = bigquery.QueryJobConfig(
        dry_run=True,
        use_query_cache=False,
        query_parameters=[
            bigquery.ScalarQueryParameter("start", "TIMESTAMP", start_of_day(day)),
            bigquery.ScalarQueryParameter("end", "TIMESTAMP", start_of_day(day + timedelta(1))),
        ],
    )
    return int(bigquery.Client().query(sql, job_config=config).total_bytes_processed or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2025, 6, 1))
    parser.add_argument("--transactions", type=int, default=1_200_000)
    parser.add_argument("--token-transfers", type=int, default=1_500_000)
    parser.add_argument("--tokens", type=int, default=1_500_000)
    parser.add_argument("--dry-run", action="store_true", help="ask BigQuery (credentials)")
    args = parser.parse_args()
    rows = {
        "transactions": args.transactions,
        "token_transfers": args.token_transfers,
        "tokens": args.tokens,
    }
    how = "BigQuery dry run" if args.dry_run else "estimated"
    print(f"one night ({args.day}) of the bigquery engine's state script, {how}; rows: {rows}\n")
    print("| statement | columns read | MB |")
    print("|---|---|---:|")
    total = 0
    for table in PUSHED_STATE_TABLES:
        sql = state_window_sql(table, DEFAULT_BQ_DATASET)
        read = columns_read(sql)
        billed = dry_run_bytes(sql, args.day) if args.dry_run else estimated_bytes(read, rows)
        total += billed
        listed = "; ".join(f"{t}: {', '.join(sorted(c))}" for t, c in sorted(read.items()))
        print(f"| INSERT {table} | {listed} | {billed / 1e6:,.0f} |")
    print(f"| **the day's state** | | **{total / 1e6:,.0f}** |")
    full = sum(rows[t] * sum(b * (1 - n) for _, b, n in COLUMNS[t].values()) for t in rows)
    print(f"\nfor comparison, every column above over the day once: {full / 1e6:,.0f} MB")


if __name__ == "__main__":
    main()
