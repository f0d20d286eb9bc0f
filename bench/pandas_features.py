"""The per-address features of eth_assets/features/sql/address_features.sql, computed with plain
pandas.

The benchmark's baseline: the same 51 feature columns, with the same definitions
(docs/features.md), as vectorised pandas groupby/merge code, without DuckDB or SQL. Conventions
follow the query: only rows with block_timestamp < as_of count; ether sums are exact integer wei
(Python ints) until the final division by 1e18, while minima and maxima are taken on floats;
token amounts are the uint256 strings parsed to float and scaled by 10^token_decimals (left
out when the decimals are unknown); token balances are exact integer sums of raw units; empty
sets give 0, and only the two token-name columns can be missing (None).

    from bench.pandas_features import pandas_features, read_inputs
    transactions, token_transfers = read_inputs(folder)
    features = pandas_features(transactions, token_transfers, universe, as_of)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

WEI_PER_ETH = 1e18
PLAIN_TRANSFER_GAS = 21_000  # a transaction using more gas than this ran contract code

TRANSACTION_COLUMNS = [
    "from_address",
    "to_address",
    "value",
    "gas_price",
    "receipt_gas_used",
    "receipt_contract_address",
    "receipt_status",
    "receipt_effective_gas_price",
    "block_timestamp",
]
TOKEN_TRANSFER_COLUMNS = [
    "token_address",
    "from_address",
    "to_address",
    "value",
    "transaction_hash",
    "block_timestamp",
    "token_name",
    "token_decimals",
]


def read_inputs(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """transactions.parquet and token_transfers.parquet of `folder`, only the columns the features
    use (canonical columns of eth_assets/chain/schemas.py; `value` of transactions as Decimal
    wei)."""
    folder = Path(folder)
    transactions = pd.read_parquet(folder / "transactions.parquet", columns=TRANSACTION_COLUMNS)
    token_transfers = pd.read_parquet(
        folder / "token_transfers.parquet", columns=TOKEN_TRANSFER_COLUMNS
    )
    return transactions, token_transfers


def _utc(moment: datetime) -> pd.Timestamp:
    """`moment` as a UTC timestamp (a naive one is taken to be UTC), to compare with the data."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def _seconds(timestamps: pd.Series) -> pd.Series:
    """Unix seconds as floats, so that time spans are plain subtractions."""
    return timestamps.dt.tz_convert(UTC).dt.as_unit("us").astype("int64") / 1e6


_to_int = np.frompyfunc(int, 1, 1)  # elementwise int(), always giving an object array


def _exact(values: pd.Series) -> pd.Series:
    """Python ints (None where missing) in an object column: its sums are exact at any size
    (Series.map would infer int64 or float64 and lose that)."""
    ints = np.full(len(values), None, dtype=object)
    present = values.notna().to_numpy()
    ints[present] = _to_int(values.to_numpy(dtype=object)[present])
    return pd.Series(ints, index=values.index, dtype=object)


def _raw_units(values: pd.Series) -> pd.Series:
    """Token raw units (digit strings up to 78 digits) as Python ints; anything else is None."""
    return _exact(values.where(values.str.fullmatch(r"[0-9]+", na=False)))


def _to_float(values: pd.Series) -> pd.Series:
    """An object column of Python ints (or None) as floats (NaN for None)."""
    return values.astype("float64")


def _avg_gap_minutes(span_seconds: pd.Series, n: pd.Series) -> pd.Series:
    """Mean minutes between consecutive events, (last − first) / (n − 1); 0 when n < 2."""
    return (span_seconds / 60.0 / (n - 1)).where(n > 1, 0.0)


def _ether_roles(tx: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """Per universe address: aggregates of its sent, received and own-creation transactions."""
    ok = tx["receipt_status"].isna() | (tx["receipt_status"] != 0)
    wei = _exact(tx["value"])
    tx = tx.assign(
        ts=_seconds(tx["block_timestamp"]),
        value_ok=wei.where(ok, None),
        value_ok_f=_to_float(wei.where(ok, None)),
    )
    # sent: contract creations included
    sent = tx[tx["from_address"].isin(ids)]
    to_contract = sent["to_address"].isna() | (sent["receipt_gas_used"] > PLAIN_TRANSFER_GAS)
    price = sent["receipt_effective_gas_price"].fillna(sent["gas_price"])
    sent = sent.assign(
        created=sent["to_address"].isna(),
        is_self=sent["from_address"] == sent["to_address"],
        counterparty=sent["to_address"].fillna(sent["receipt_contract_address"]),
        value_contract=sent["value_ok"].where(to_contract, None),
        value_contract_f=sent["value_ok_f"].where(to_contract),
        fee=(_exact(sent["receipt_gas_used"].fillna(0)) * _exact(price.fillna(0))).where(
            sent["receipt_gas_used"].notna() & price.notna(), None
        ),
    )
    s = sent.groupby("from_address").agg(
        s_n=("ts", "size"),
        n_created=("created", "sum"),
        n_self=("is_self", "sum"),
        s_uniq=("counterparty", "nunique"),
        s_first=("ts", "min"),
        s_last=("ts", "max"),
        s_n_ok=("value_ok", "count"),
        s_min=("value_ok_f", "min"),
        s_max=("value_ok_f", "max"),
        s_sum=("value_ok", "sum"),
        c_n=("value_contract", "count"),
        c_min=("value_contract_f", "min"),
        c_max=("value_contract_f", "max"),
        c_sum=("value_contract", "sum"),
        fee=("fee", "sum"),
    )
    # received
    received = tx[tx["to_address"].isin(ids)]
    r = received.groupby("to_address").agg(
        r_n=("ts", "size"),
        r_uniq=("from_address", "nunique"),
        r_first=("ts", "min"),
        r_last=("ts", "max"),
        r_n_ok=("value_ok", "count"),
        r_min=("value_ok_f", "min"),
        r_max=("value_ok_f", "max"),
        r_sum=("value_ok", "sum"),
    )
    # own creation (the address is a contract created by a transaction), with its endowment
    own = tx[tx["to_address"].isna() & tx["receipt_contract_address"].isin(ids)]
    o = own.groupby("receipt_contract_address").agg(
        o_n=("ts", "size"),
        o_first=("ts", "min"),
        o_last=("ts", "max"),
        o_sum=("value_ok", "sum"),
    )
    return pd.concat([s.reindex(ids), r.reindex(ids), o.reindex(ids)], axis=1)


def _ether_features(e: pd.DataFrame) -> dict[str, pd.Series]:
    """The ether features from the per-address role aggregates."""
    count = {c: e[c].fillna(0).astype("int64") for c in ["s_n", "r_n", "o_n", "n_created"]}
    count |= {c: e[c].fillna(0).astype("int64") for c in ["n_self", "s_uniq", "r_uniq"]}
    count |= {c: e[c].fillna(0).astype("int64") for c in ["s_n_ok", "r_n_ok", "c_n"]}
    wei = {c: e[c].where(e[c].notna(), 0) for c in ["s_sum", "r_sum", "c_sum", "o_sum", "fee"]}
    span_all = e[["s_last", "r_last", "o_last"]].max(axis=1) - e[
        ["s_first", "r_first", "o_first"]
    ].min(axis=1)

    def average(total: pd.Series, n: pd.Series) -> pd.Series:
        """Total wei / count in ETH; 0 for an empty set."""
        return (_to_float(total) / WEI_PER_ETH / n).where(n > 0, 0.0)

    return {
        "avg_min_between_sent_tnx": _avg_gap_minutes(e["s_last"] - e["s_first"], count["s_n"]),
        "avg_min_between_received_tnx": _avg_gap_minutes(e["r_last"] - e["r_first"], count["r_n"]),
        "time_diff_between_first_and_last_mins": (span_all / 60.0).fillna(0.0),
        "sent_tnx": count["s_n"],
        "received_tnx": count["r_n"],
        "number_of_created_contracts": count["n_created"],
        "unique_received_from_addresses": count["r_uniq"],
        "unique_sent_to_addresses": count["s_uniq"],
        "min_value_received": (e["r_min"] / WEI_PER_ETH).fillna(0.0),
        "max_value_received": (e["r_max"] / WEI_PER_ETH).fillna(0.0),
        "avg_val_received": average(wei["r_sum"], count["r_n_ok"]),
        "min_val_sent": (e["s_min"] / WEI_PER_ETH).fillna(0.0),
        "max_val_sent": (e["s_max"] / WEI_PER_ETH).fillna(0.0),
        "avg_val_sent": average(wei["s_sum"], count["s_n_ok"]),
        "min_value_sent_to_contract": (e["c_min"] / WEI_PER_ETH).fillna(0.0),
        "max_val_sent_to_contract": (e["c_max"] / WEI_PER_ETH).fillna(0.0),
        "avg_value_sent_to_contract": average(wei["c_sum"], count["c_n"]),
        "total_transactions": count["s_n"] + count["r_n"] - count["n_self"] + count["o_n"],
        "total_ether_sent": _to_float(wei["s_sum"]) / WEI_PER_ETH,
        "total_ether_received": _to_float(wei["r_sum"]) / WEI_PER_ETH,
        "total_ether_sent_contracts": _to_float(wei["c_sum"]) / WEI_PER_ETH,
        "total_ether_balance": _to_float(wei["r_sum"] - wei["s_sum"]) / WEI_PER_ETH,
        "sent_diff_between_max_and_min": ((e["s_max"] - e["s_min"]) / WEI_PER_ETH).fillna(0.0),
        "balance_eth": _to_float(wei["r_sum"] + wei["o_sum"] - wei["s_sum"] - wei["fee"])
        / WEI_PER_ETH,
    }


def _contracts(tx: pd.DataFrame, tt: pd.DataFrame) -> pd.Index:
    """Addresses the input shows to be contracts: token contracts, contracts created by a
    transaction, and recipients of a transaction that ran code."""
    found = pd.concat(
        [
            tt["token_address"],
            tx.loc[tx["to_address"].isna(), "receipt_contract_address"],
            tx.loc[tx["receipt_gas_used"] > PLAIN_TRANSFER_GAS, "to_address"],
        ]
    )
    return pd.Index(found.dropna().unique())


def _token_features(tx: pd.DataFrame, tt: pd.DataFrame, ids: pd.Index) -> dict[str, pd.Series]:
    """The token features: per side counts, times and amounts, per-token balances and names."""
    tt = tt.assign(
        ts=_seconds(tt["block_timestamp"]),
        amount=pd.to_numeric(tt["value"], errors="coerce").astype("float64")
        / 10.0 ** tt["token_decimals"].astype("float64"),
        raw=_raw_units(tt["value"]),
        token_name=tt["token_name"].where(tt["token_name"] != ""),
    )
    sent = tt[tt["from_address"].isin(ids)]
    received = tt[tt["to_address"].isin(ids)]

    to_contract = sent["to_address"].isin(_contracts(tx, tt))
    sent = sent.assign(
        is_self=sent["from_address"] == sent["to_address"],
        to_contract=to_contract,
        ts_contract=sent["ts"].where(to_contract),
        amount_contract=sent["amount"].where(to_contract),
    )
    s = sent.groupby("from_address").agg(
        n=("ts", "size"),
        n_self=("is_self", "sum"),
        uniq=("to_address", "nunique"),
        first=("ts", "min"),
        last=("ts", "max"),
        n_amount=("amount", "count"),
        min=("amount", "min"),
        max=("amount", "max"),
        sum=("amount", "sum"),
        c_n=("to_contract", "sum"),
        c_first=("ts_contract", "min"),
        c_last=("ts_contract", "max"),
        c_n_amount=("amount_contract", "count"),
        c_min=("amount_contract", "min"),
        c_max=("amount_contract", "max"),
        c_sum=("amount_contract", "sum"),
    )
    s = s.reindex(ids)
    r = received.groupby("to_address").agg(
        n=("ts", "size"),
        uniq=("from_address", "nunique"),
        first=("ts", "min"),
        last=("ts", "max"),
        n_amount=("amount", "count"),
        min=("amount", "min"),
        max=("amount", "max"),
        sum=("amount", "sum"),
    )
    r = r.reindex(ids)

    def counted(frame: pd.DataFrame, column: str) -> pd.Series:
        """A count column with 0 for addresses without rows."""
        return frame[column].fillna(0).astype("int64")

    def average(frame: pd.DataFrame, total: str, n: str) -> pd.Series:
        """Sum / count of the amounts with known decimals; 0 when there are none."""
        return (frame[total] / frame[n]).where(frame[n] > 0, 0.0)

    # one row per (address, token transfer, side), for balances, names and transactions
    columns = ["address", "token_address", "transaction_hash", "token_name", "is_sent"]
    sent_legs = sent.assign(address=sent["from_address"], is_sent=True, raw_in=None)
    received_legs = received.assign(address=received["to_address"], is_sent=False, raw_out=None)
    legs = pd.concat(
        [
            sent_legs[[*columns, "raw_in"]].assign(raw_out=sent_legs["raw"]),
            received_legs[[*columns, "raw_out"]].assign(raw_in=received_legs["raw"]),
        ],
        ignore_index=True,
    )
    legs["is_received"] = ~legs["is_sent"]
    n_transactions = legs.groupby("address")["transaction_hash"].nunique().reindex(ids)

    keys = ["address", "token_address"]
    tokens = legs.groupby(keys, dropna=False).agg(
        n_sent=("is_sent", "sum"),
        n_received=("is_received", "sum"),
        raw_in=("raw_in", "sum"),
        raw_out=("raw_out", "sum"),
    )
    # a token's name is the largest of its rows' names (sorting beats groupby max on strings)
    names_of = legs.dropna(subset=["token_name"]).sort_values("token_name")
    names_of = names_of.drop_duplicates(keys, keep="last").set_index(keys)["token_name"]
    tokens["token_name"] = names_of
    tokens = tokens.reset_index()
    tokens["held"] = (tokens["raw_in"] - tokens["raw_out"]) > 0
    tokens["sent_any"] = tokens["n_sent"] > 0
    tokens["received_any"] = tokens["n_received"] > 0
    per_address = tokens.groupby("address").agg(
        sent_tokens=("sent_any", "sum"),
        received_tokens=("received_any", "sum"),
        held=("held", "sum"),
    )
    per_address = per_address.reindex(ids)

    names = (
        tokens.dropna(subset=["token_name"])
        .groupby(["address", "token_name"], as_index=False)[["n_sent", "n_received"]]
        .sum()
    )
    name_counts = (
        names.assign(sent_any=names["n_sent"] > 0, received_any=names["n_received"] > 0)
        .groupby("address")
        .agg(sent_names=("sent_any", "sum"), received_names=("received_any", "sum"))
    )
    name_counts = name_counts.reindex(ids)

    def most_frequent(side: str) -> pd.Series:
        """Per address, the token name with most transfers on `side`; ties: smallest name."""
        top = (
            names[names[side] > 0]
            .sort_values(["address", side, "token_name"], ascending=[True, False, True])
            .drop_duplicates("address")
            .set_index("address")["token_name"]
        )
        top = top.reindex(ids).astype(object)
        return top.where(top.notna(), None)

    received_gap = _avg_gap_minutes(r["last"] - r["first"], counted(r, "n"))
    return {
        "total_erc20_tnxs": counted(s, "n") + counted(r, "n") - counted(s, "n_self"),
        "erc20_total_ether_received": r["sum"].fillna(0.0),
        "erc20_total_ether_sent": s["sum"].fillna(0.0),
        "erc20_total_ether_sent_contract": s["c_sum"].fillna(0.0),
        "erc20_uniq_sent_addr": counted(s, "uniq"),
        "erc20_uniq_rec_addr": counted(r, "uniq"),
        "erc20_uniq_sent_contract_addr": counted(per_address, "sent_tokens"),
        "erc20_uniq_rec_contract_addr": counted(per_address, "received_tokens"),
        "erc20_avg_time_between_sent_tnx": _avg_gap_minutes(
            s["last"] - s["first"], counted(s, "n")
        ),
        "erc20_avg_time_between_rec_tnx": received_gap,
        # the published collector writes the received average twice
        "erc20_avg_time_between_rec_2_tnx": received_gap.copy(),
        "erc20_avg_time_between_contract_tnx": _avg_gap_minutes(
            s["c_last"] - s["c_first"], counted(s, "c_n")
        ),
        "erc20_min_val_rec": r["min"].fillna(0.0),
        "erc20_max_val_rec": r["max"].fillna(0.0),
        "erc20_avg_val_rec": average(r, "sum", "n_amount"),
        "erc20_min_val_sent": s["min"].fillna(0.0),
        "erc20_max_val_sent": s["max"].fillna(0.0),
        "erc20_avg_val_sent": average(s, "sum", "n_amount"),
        "erc20_min_val_sent_contract": s["c_min"].fillna(0.0),
        "erc20_max_val_sent_contract": s["c_max"].fillna(0.0),
        "erc20_avg_val_sent_contract": average(s, "c_sum", "c_n_amount"),
        "erc20_uniq_sent_token_name": counted(name_counts, "sent_names"),
        "erc20_uniq_rec_token_name": counted(name_counts, "received_names"),
        "erc20_most_sent_token_type": most_frequent("n_sent"),
        "erc20_most_rec_token_type": most_frequent("n_received"),
        "unique_tokens_held": counted(per_address, "held"),
        "unique_token_transfers": n_transactions.fillna(0).astype("int64"),
    }


# The output columns after `address`, in the order of the feature query: the same list as
# eth_assets.features.feature_tables.FEATURE_COLUMNS, written out so that this module never loads
# DuckDB.
COLUMNS: list[str] = [
    "avg_min_between_sent_tnx",
    "avg_min_between_received_tnx",
    "time_diff_between_first_and_last_mins",
    "sent_tnx",
    "received_tnx",
    "number_of_created_contracts",
    "unique_received_from_addresses",
    "unique_sent_to_addresses",
    "min_value_received",
    "max_value_received",
    "avg_val_received",
    "min_val_sent",
    "max_val_sent",
    "avg_val_sent",
    "min_value_sent_to_contract",
    "max_val_sent_to_contract",
    "avg_value_sent_to_contract",
    "total_transactions",
    "total_ether_sent",
    "total_ether_received",
    "total_ether_sent_contracts",
    "total_ether_balance",
    "total_erc20_tnxs",
    "erc20_total_ether_received",
    "erc20_total_ether_sent",
    "erc20_total_ether_sent_contract",
    "erc20_uniq_sent_addr",
    "erc20_uniq_rec_addr",
    "erc20_uniq_sent_contract_addr",
    "erc20_uniq_rec_contract_addr",
    "erc20_avg_time_between_sent_tnx",
    "erc20_avg_time_between_rec_tnx",
    "erc20_avg_time_between_rec_2_tnx",
    "erc20_avg_time_between_contract_tnx",
    "erc20_min_val_rec",
    "erc20_max_val_rec",
    "erc20_avg_val_rec",
    "erc20_min_val_sent",
    "erc20_max_val_sent",
    "erc20_avg_val_sent",
    "erc20_min_val_sent_contract",
    "erc20_max_val_sent_contract",
    "erc20_avg_val_sent_contract",
    "erc20_uniq_sent_token_name",
    "erc20_uniq_rec_token_name",
    "erc20_most_sent_token_type",
    "erc20_most_rec_token_type",
    "sent_diff_between_max_and_min",
    "balance_eth",
    "unique_tokens_held",
    "unique_token_transfers",
]


def pandas_features(
    transactions: pd.DataFrame,
    token_transfers: pd.DataFrame,
    universe: list[str] | set[str],
    as_of: datetime,
) -> pd.DataFrame:
    """One row per universe address (column `address` first, then
    eth_assets.features.feature_tables.
    FEATURE_COLUMNS in order), sorted by address."""
    ids = pd.Index(sorted({a for a in universe if isinstance(a, str)}), name="address")
    cutoff = _utc(as_of)
    tx = transactions[transactions["block_timestamp"] < cutoff]
    tt = token_transfers[token_transfers["block_timestamp"] < cutoff]
    features = _ether_features(_ether_roles(tx, ids)) | _token_features(tx, tt, ids)
    out = pd.DataFrame({c: features[c] for c in COLUMNS}, index=ids)
    return out.reset_index()
