"""The feature sets investor profiles are computed from: plain Polars expressions over
address_features columns, light to import (the code location reads them when it loads)."""

from __future__ import annotations

import polars as pl

NO_ACTIVITY_ID = 0
NO_ACTIVITY_NAME = "no activity"

# The investor-profile app's three features, as address_features names them.
APP_FEATURES: tuple[str, ...] = ("balance_eth", "unique_tokens_held", "unique_token_transfers")

# Behaviour a person can act on, derived from address_features columns: how long and how much
# an account is used, with how many others, which way ether flows, how much is tokens or
# contracts, and what it holds.
BEHAVIOUR_FEATURES: dict[str, pl.Expr] = {
    "active_days": pl.col("time_diff_between_first_and_last_mins") / 1440.0,
    "transactions": pl.col("total_transactions") + pl.col("total_erc20_tnxs"),
    "counterparties": pl.col("unique_received_from_addresses") + pl.col("unique_sent_to_addresses"),
    "sent_share": pl.when(pl.col("sent_tnx") + pl.col("received_tnx") > 0)
    .then(pl.col("sent_tnx") / (pl.col("sent_tnx") + pl.col("received_tnx")))
    .otherwise(0.0),
    "token_share": pl.when(pl.col("total_transactions") + pl.col("total_erc20_tnxs") > 0)
    .then(pl.col("total_erc20_tnxs") / (pl.col("total_transactions") + pl.col("total_erc20_tnxs")))
    .otherwise(0.0),
    "contract_share": pl.when(pl.col("total_ether_sent") > 0)
    .then(pl.col("total_ether_sent_contracts") / pl.col("total_ether_sent"))
    .otherwise(0.0),
    "ether_volume": pl.col("total_ether_received") + pl.col("total_ether_sent"),
    "balance_eth": pl.col("balance_eth"),
    "unique_tokens_held": pl.col("unique_tokens_held"),
}
BEHAVIOUR_SOURCE_COLUMNS: tuple[str, ...] = (
    "time_diff_between_first_and_last_mins",
    "total_transactions",
    "total_erc20_tnxs",
    "unique_received_from_addresses",
    "unique_sent_to_addresses",
    "sent_tnx",
    "received_tnx",
    "total_ether_sent",
    "total_ether_sent_contracts",
    "total_ether_received",
    "balance_eth",
    "unique_tokens_held",
)

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "app": APP_FEATURES,
    "behaviour": tuple(BEHAVIOUR_FEATURES),
}


def profile_frame(features: pl.DataFrame, feature_set: str) -> pl.DataFrame:
    """The columns of `feature_set` computed from (cleaned) address_features columns."""
    if feature_set == "app":
        return features.select(APP_FEATURES)
    if feature_set == "behaviour":
        return features.select(expr.alias(name) for name, expr in BEHAVIOUR_FEATURES.items())
    raise ValueError(f"unknown feature set {feature_set!r}; choose one of {list(FEATURE_SETS)}")


def source_columns(*feature_sets: str) -> tuple[str, ...]:
    """The address_features columns the feature sets are computed from, each once."""
    columns: dict[str, None] = {}
    for name in feature_sets:
        columns.update(dict.fromkeys(APP_FEATURES if name == "app" else BEHAVIOUR_SOURCE_COLUMNS))
    return tuple(columns)
