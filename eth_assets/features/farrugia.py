"""The real sample and the features Farrugia et al. (2020) published for it (Complete.csv).

Plain functions, no Dagster, shared by scripts/compare_farrugia.py, scripts/calibrate_simulation.py
and the real-sample tests: views that expose the sample folder (../shared/data/raw_txns) as the
feature query's inputs, and the comparison of our features with the published ones.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.chain.source_columns import map_columns
from eth_assets.common.duckdb_utils import sql_literal
from eth_assets.features.feature_tables import CATEGORICAL_COLUMNS, PUBLISHED_NAMES, without_tokens


def register_sample_views(
    con: duckdb.DuckDBPyConnection, raw_dir: Path, excluded_tokens: Sequence[str] = ()
) -> None:
    """Define `transactions`, `token_transfers` and `universe` over the real-sample folder.

    `raw_dir` holds transactions.parquet, token_transfers.parquet (BigQuery column names) and
    accounts.csv; the universe is the accounts with in_subset = true. The transfers of
    `excluded_tokens` (label-broadcast tokens) are left out, as address_features does; the
    comparison with the published features keeps them, as the published collector did.
    """
    register_folder_views(con, raw_dir, excluded_tokens)
    register_sample_universe(con, raw_dir / "accounts.csv")


def register_folder_views(
    con: duckdb.DuckDBPyConnection, raw_dir: Path, excluded_tokens: Sequence[str] = ()
) -> None:
    """Define `transactions` and `token_transfers` over `raw_dir`'s transactions.parquet and
    token_transfers.parquet (BigQuery column names, mapped as the Parquet source maps them),
    without the transfers of `excluded_tokens`."""
    for raw in (TRANSACTIONS, TOKEN_TRANSFERS):
        path = raw_dir / f"{raw.name}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: the folder needs {raw.name}.parquet")
        relation = f"read_parquet({sql_literal(str(path))})"
        available = {
            r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        }
        expressions, _ = map_columns(raw, available, f"{raw.name} in {raw_dir}")
        mapped = f"SELECT {', '.join(expressions)} FROM {relation}"
        if raw is TOKEN_TRANSFERS:
            mapped = without_tokens(mapped, excluded_tokens)
        con.execute(f"CREATE OR REPLACE VIEW {raw.name} AS {mapped}").fetchall()


def register_sample_universe(con: duckdb.DuckDBPyConnection, accounts_csv: Path) -> None:
    """Define the view `universe`: the accounts of the sample's accounts.csv with in_subset."""
    accounts = sql_literal(str(accounts_csv))
    con.execute(
        "CREATE OR REPLACE VIEW universe AS SELECT DISTINCT lower(address) AS address "
        f"FROM read_csv({accounts}, header = true, all_varchar = true) "
        "WHERE lower(in_subset) = 'true'"
    ).fetchall()


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
