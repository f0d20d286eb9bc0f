"""Labelled accounts of another Parquet folder (e.g. ../shared/data/phish_2022), featurised by
the pipeline's own SQL for an evaluation with no retraining: the same two feature queries, the
same label-broadcast tokens left out, the same market gas reference, and each account's first
activity (for the date-only baseline, never a feature). Plain functions, no Dagster."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from eth_assets.common.duckdb_utils import connect
from eth_assets.features.farrugia import register_folder_views
from eth_assets.features.feature_tables import (
    create_address_activity,
    create_address_features,
    create_behaviour_features,
)
from eth_assets.models.dataset_rules import with_flags


def read_labelled_accounts(path: Path, label_column: str) -> pl.DataFrame:
    """`address` (lower-case) and `label` (0 normal, 1 illicit) of an accounts file; an error
    naming the file, column or value that does not fit."""
    if not path.is_file():
        raise FileNotFoundError(f"the accounts file {path} does not exist")
    frame = pl.read_csv(path, infer_schema=False)
    for column in ("address", label_column):
        if column not in frame.columns:
            raise ValueError(f"{path} has no column {column!r} (columns: {frame.columns})")
    accounts = frame.select(
        pl.col("address").str.strip_chars().str.to_lowercase(),
        pl.col(label_column).str.strip_chars().alias("label"),
    )
    bad = accounts.filter(
        ~pl.col("address").str.contains(r"^0x[0-9a-f]{40}$") | ~pl.col("label").is_in(["0", "1"])
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise ValueError(
            f"{path}: {bad.height} rows with an invalid address or a {label_column!r} other than "
            f"0/1, e.g. address {row['address']!r}, {label_column} {row['label']!r}"
        )
    if accounts["address"].n_unique() != accounts.height:
        raise ValueError(f"{path}: addresses repeat; one row per account is expected")
    return accounts.with_columns(pl.col("label").cast(pl.Int8))


def folder_end(folder: Path) -> datetime:
    """The end of the last day of the folder's transactions: the default cut-off."""
    con = connect()
    try:
        register_folder_views(con, folder)
        last = con.execute("SELECT max(block_timestamp) FROM transactions").fetchall()[0][0]
    finally:
        con.close()
    if last is None:
        raise ValueError(f"{folder}/transactions.parquet holds no transaction")
    return datetime(last.year, last.month, last.day, tzinfo=last.tzinfo) + timedelta(days=1)


def folder_features(
    folder: Path,
    accounts: pl.DataFrame,
    as_of: datetime,
    excluded_tokens: Sequence[str] = (),
    market_gas: Path | None = None,
) -> pl.DataFrame:
    """The flagged feature rows (address_features + behaviour_features, `has_activity`) of the
    `accounts` (address, label) as of `as_of` over `folder`, with `label` and `first_seen`."""
    con = connect()
    try:
        register_folder_views(con, folder, excluded_tokens)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE universe AS "
            "SELECT DISTINCT unnest(CAST(? AS VARCHAR[])) AS address",
            [accounts["address"].to_list()],
        ).fetchall()
        create_address_features(con, as_of, "address_features")
        create_behaviour_features(con, as_of, "behaviour_features", market_gas)
        create_address_activity(con, as_of, "address_activity")
        features = con.sql("SELECT * FROM address_features").pl()
        behaviour = con.sql("SELECT * FROM behaviour_features").pl()
        activity = con.sql("SELECT address, first_seen FROM address_activity").pl()
    finally:
        con.close()
    universe = features.select("address", is_labelled_illicit=pl.lit(False))
    return (
        with_flags(features, universe, behaviour)
        .join(activity, on="address", how="left")
        .join(accounts.select("address", "label"), on="address", how="inner")
        .sort("address")
    )
