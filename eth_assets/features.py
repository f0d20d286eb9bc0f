"""Per-address features as of a cutoff, computed by one SQL query (sql/address_features.sql).

Plain functions, no Dagster: the asset layer and the scripts call them with a DuckDB connection
that has `transactions`, `token_transfers` and `universe` defined. Definitions: docs/features.md.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from eth_assets.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.source_columns import map_columns
from eth_assets.sql import load_sql

# Our column name → the column of Farrugia et al. (2020) Complete.csv it reproduces.
# Complete.csv names its 29th feature "ERC20_uniq_sent_addr" a second time (pandas reads it as
# "ERC20_uniq_sent_addr.1"); the collector computes it in the "contract" group, so we name it
# erc20_uniq_sent_contract_addr (see docs/features.md).
PUBLISHED_NAMES: dict[str, str] = {
    "avg_min_between_sent_tnx": "Avg_min_between_sent_tnx",
    "avg_min_between_received_tnx": "Avg_min_between_received_tnx",
    "time_diff_between_first_and_last_mins": "Time_Diff_between_first_and_last_(Mins)",
    "sent_tnx": "Sent_tnx",
    "received_tnx": "Received_Tnx",
    "number_of_created_contracts": "Number_of_Created_Contracts",
    "unique_received_from_addresses": "Unique_Received_From_Addresses",
    "unique_sent_to_addresses": "Unique_Sent_To_Addresses",
    "min_value_received": "min_value_received",
    "max_value_received": "max_value_received",
    "avg_val_received": "avg_val_received",
    "min_val_sent": "min_val_sent",
    "max_val_sent": "max_val_sent",
    "avg_val_sent": "avg_val_sent",
    "min_value_sent_to_contract": "min_value_sent_to_contract",
    "max_val_sent_to_contract": "max_val_sent_to_contract",
    "avg_value_sent_to_contract": "avg_value_sent_to_contract",
    "total_transactions": "total_transactions_(including_tnx_to_create_contract)",
    "total_ether_sent": "total_Ether_sent",
    "total_ether_received": "total_ether_received",
    "total_ether_sent_contracts": "total_ether_sent_contracts",
    "total_ether_balance": "total_ether_balance",
    "total_erc20_tnxs": "Total_ERC20_tnxs",
    "erc20_total_ether_received": "ERC20_total_Ether_received",
    "erc20_total_ether_sent": "ERC20_total_ether_sent",
    "erc20_total_ether_sent_contract": "ERC20_total_Ether_sent_contract",
    "erc20_uniq_sent_addr": "ERC20_uniq_sent_addr",
    "erc20_uniq_rec_addr": "ERC20_uniq_rec_addr",
    "erc20_uniq_sent_contract_addr": "ERC20_uniq_sent_addr.1",
    "erc20_uniq_rec_contract_addr": "ERC20_uniq_rec_contract_addr",
    "erc20_avg_time_between_sent_tnx": "ERC20_avg_time_between_sent_tnx",
    "erc20_avg_time_between_rec_tnx": "ERC20_avg_time_between_rec_tnx",
    "erc20_avg_time_between_rec_2_tnx": "ERC20_avg_time_between_rec_2_tnx",
    "erc20_avg_time_between_contract_tnx": "ERC20_avg_time_between_contract_tnx",
    "erc20_min_val_rec": "ERC20_min_val_rec",
    "erc20_max_val_rec": "ERC20_max_val_rec",
    "erc20_avg_val_rec": "ERC20_avg_val_rec",
    "erc20_min_val_sent": "ERC20_min_val_sent",
    "erc20_max_val_sent": "ERC20_max_val_sent",
    "erc20_avg_val_sent": "ERC20_avg_val_sent",
    "erc20_min_val_sent_contract": "ERC20_min_val_sent_contract",
    "erc20_max_val_sent_contract": "ERC20_max_val_sent_contract",
    "erc20_avg_val_sent_contract": "ERC20_avg_val_sent_contract",
    "erc20_uniq_sent_token_name": "ERC20_uniq_sent_token_name",
    "erc20_uniq_rec_token_name": "ERC20_uniq_rec_token_name",
    "erc20_most_sent_token_type": "ERC20_most_sent_token_type",
    "erc20_most_rec_token_type": "ERC20_most_rec_token_type",
}

# The published features, then the one the brief adds (max value sent − min value sent).
FARRUGIA_COLUMNS: list[str] = [*PUBLISHED_NAMES, "sent_diff_between_max_and_min"]
INVESTOR_COLUMNS: list[str] = ["balance_eth", "unique_tokens_held", "unique_token_transfers"]
# All feature columns of the output table, in order (the table also has `address` first).
FEATURE_COLUMNS: list[str] = FARRUGIA_COLUMNS + INVESTOR_COLUMNS
# Token names (VARCHAR, NULL without token activity); every other feature is numeric, never NULL.
CATEGORICAL_COLUMNS: list[str] = ["erc20_most_sent_token_type", "erc20_most_rec_token_type"]
NUMERIC_FEATURE_COLUMNS: list[str] = [c for c in FEATURE_COLUMNS if c not in CATEGORICAL_COLUMNS]

SQL_NAME = "address_features"


def feature_sql() -> str:
    """The feature query: one SELECT over `transactions`, `token_transfers`, `universe`."""
    return load_sql(SQL_NAME)


def as_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def create_address_features(
    con: duckdb.DuckDBPyConnection, as_of: datetime, table: str = "address_features"
) -> int:
    """Materialise the features of every universe address as of `as_of` into `table`; row count."""
    if not table.replace(".", "").replace("_", "").isalnum():
        raise ValueError(f"not a plain table name: {table!r}")
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS\n{feature_sql()}", {"as_of": as_utc(as_of)}
    ).fetchall()
    return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchall()[0][0])


def _quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def register_sample_views(con: duckdb.DuckDBPyConnection, raw_dir: Path) -> None:
    """Define `transactions`, `token_transfers` and `universe` over the real-sample folder.

    `raw_dir` holds transactions.parquet, token_transfers.parquet (BigQuery column names) and
    accounts.csv; the universe is the accounts with in_subset = true.
    """
    for raw in (TRANSACTIONS, TOKEN_TRANSFERS):
        relation = f"read_parquet({_quote(str(raw_dir / f'{raw.name}.parquet'))})"
        available = {
            r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        }
        expressions, _ = map_columns(raw, available, f"{raw.name} in {raw_dir}")
        con.execute(
            f"CREATE OR REPLACE VIEW {raw.name} AS SELECT {', '.join(expressions)} FROM {relation}"
        ).fetchall()
    register_sample_universe(con, raw_dir / "accounts.csv")


def register_sample_universe(con: duckdb.DuckDBPyConnection, accounts_csv: Path) -> None:
    """Define the view `universe`: the accounts of the sample's accounts.csv with in_subset."""
    accounts = _quote(str(accounts_csv))
    con.execute(
        "CREATE OR REPLACE VIEW universe AS SELECT DISTINCT lower(address) AS address "
        f"FROM read_csv({accounts}, header = true, all_varchar = true) "
        "WHERE lower(in_subset) = 'true'"
    ).fetchall()


# Comparison with the published features (Complete.csv), shared by scripts/compare_farrugia.py
# and the real-sample test.

# How Complete.csv encodes "no token" in the two token-name columns.
_NO_TOKEN_NAMES = {"", "0", "None", "nan"}


def read_published(path: Path) -> pd.DataFrame:
    """Complete.csv indexed by lower-case address (first row of a repeated address kept)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["address"] = frame["Address"].str.strip().str.lower()
    return frame.drop_duplicates("address").set_index("address")


def published_decimals(path: Path) -> dict[str, int]:
    """Digits after the point each Complete.csv column is printed with (the collector rounds)."""
    names = list(pd.read_csv(path, nrows=0).columns)  # repeated names get ".1" as in pandas
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        digits = dict.fromkeys(names, 0)
        for row in reader:
            for name, text in zip(names, row, strict=False):
                if "." in text and "e" not in text.lower():  # scientific cells: _rounded_like
                    digits[name] = max(digits[name], len(text.strip().split(".")[1]))
    return digits


def _numeric(series: pd.Series) -> pd.Series:
    """Published text as numbers; blank (no token data, illicit rows) counts as 0."""
    return pd.to_numeric(series.str.strip().replace("", "0"), errors="coerce").fillna(0.0)


def _token_name(series: pd.Series) -> pd.Series:
    """Token names with every "no token" encoding (blank, 0, None, NULL) as ""."""
    text = series.fillna("").astype(str).str.strip()
    return text.where(~text.isin(_NO_TOKEN_NAMES), "")


def _rounded_like(values: np.ndarray, published: pd.Series, digits: int) -> np.ndarray:
    """`values` rounded as the published cells are printed: `digits` decimals, or as many
    significant digits as a cell in scientific notation shows (154 cells, e.g. "4.20E-05")."""
    rounded = values.round(digits)
    text = published.fillna("").astype(str).str.strip()
    scientific = text.str.contains(r"^-?\d(?:\.\d+)?[eE][+-]?\d+$", regex=True).to_numpy()
    for i in np.flatnonzero(scientific):
        mantissa = text.iloc[i].lower().split("e")[0].lstrip("-")
        significant = len(mantissa.replace(".", ""))
        rounded[i] = float(f"{values[i]:.{significant - 1}e}")
    return rounded


def compare_column(
    ours: pd.Series, published: pd.Series, digits: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per account: (equal within 1e-6 relative, within 1 %), ours rounded like the published."""
    if ours.name in CATEGORICAL_COLUMNS:
        same = (_token_name(ours) == _token_name(published)).to_numpy()
        return same, same
    mine = _rounded_like(ours.astype(float).to_numpy(), published, digits)
    theirs = _numeric(published).to_numpy()
    scale = np.maximum(np.abs(mine), np.abs(theirs))
    gap = np.abs(mine - theirs)
    return gap <= 1e-6 * scale, gap <= 0.01 * scale


PUBLISHED_PREFIX = "published:"


def pair_with_published(features: pd.DataFrame, published_csv: Path) -> pd.DataFrame:
    """Accounts in both, indexed by address: our columns plus "published:<name>" text columns."""
    published = read_published(published_csv).add_prefix(PUBLISHED_PREFIX)
    return features.set_index("address").join(published, how="inner")


def agreement_table(features: pd.DataFrame, published_csv: Path) -> pd.DataFrame:
    """Per published feature: accounts compared, share equal (1e-6 relative) and within 1 %."""
    digits = published_decimals(published_csv)
    both = pair_with_published(features, published_csv)
    rows = []
    for ours, theirs in PUBLISHED_NAMES.items():
        equal, close = compare_column(both[ours], both[PUBLISHED_PREFIX + theirs], digits[theirs])
        rows.append((ours, theirs, len(both), equal.mean(), close.mean()))
    return pd.DataFrame(rows, columns=["feature", "published", "accounts", "equal", "within_1pct"])
