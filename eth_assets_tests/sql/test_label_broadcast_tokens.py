"""Label-broadcast tokens: their transfers are labels written on chain, never features."""

from __future__ import annotations

import polars as pl
import pytest

from eth_assets.addresses import InvalidAddressError
from eth_assets.duckdb_utils import connect
from eth_assets.features import excluded_transfers, features_from_lake, without_tokens
from eth_assets.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.settings import DEFAULT_LABEL_BROADCAST_TOKENS
from eth_assets_tests.fixtures import (
    HISTORY_AS_OF,
    TOKEN_ROWS,
    TRANSACTIONS_ROWS,
    UNIVERSE,
    D,
    X,
    create_table,
    transfer,
)

NOTSAFU = DEFAULT_LABEL_BROADCAST_TOKENS[0]
# D is sent one NOTSAFU token, as the airdrops marked listed addresses.
BROADCAST = transfer("0xnotsafu", 300, NOTSAFU, X, D, 1, "NOTSAFU", "Not Safu", 0)


class Tables:
    """Raw relations over in-memory tables named raw_<table>."""

    def relation_sql(self, name: str) -> str:
        return f"SELECT * FROM raw_{name}"


def _features(token_rows: list[tuple], excluded: tuple[str, ...]) -> pl.DataFrame:
    con = connect()
    create_table(con, "raw_transactions", TRANSACTIONS.columns, TRANSACTIONS_ROWS)
    create_table(con, "raw_token_transfers", TOKEN_TRANSFERS.columns, token_rows)
    create_table(con, "address_universe", [("address", "VARCHAR")], [(a,) for a in UNIVERSE])
    features_from_lake(con, Tables(), HISTORY_AS_OF, excluded)
    frame = con.sql("SELECT * FROM address_features ORDER BY address").pl()
    if excluded:
        assert excluded_transfers(con, Tables(), excluded, HISTORY_AS_OF) == (
            int(BROADCAST in token_rows),
            int(BROADCAST in token_rows),
        )
    con.close()
    return frame


def test_no_feature_is_computed_from_label_broadcast_tokens() -> None:
    without_broadcast = _features(TOKEN_ROWS, ())
    left_out = _features([*TOKEN_ROWS, BROADCAST], DEFAULT_LABEL_BROADCAST_TOKENS)
    assert left_out.equals(without_broadcast)


def test_kept_they_change_the_token_features() -> None:
    kept = _features([*TOKEN_ROWS, BROADCAST], ()).filter(pl.col("address") == D)
    plain = _features(TOKEN_ROWS, ()).filter(pl.col("address") == D)
    assert kept["total_erc20_tnxs"][0] == plain["total_erc20_tnxs"][0] + 1
    assert kept["erc20_uniq_rec_token_name"][0] == plain["erc20_uniq_rec_token_name"][0] + 1


def test_token_list_is_checked_and_any_case_accepted() -> None:
    upper = "0x" + NOTSAFU[2:].upper()
    assert f"'{NOTSAFU}'" in without_tokens("SELECT 1", [upper])
    with pytest.raises(InvalidAddressError, match="'0xnot-a-token'"):
        without_tokens("SELECT 1", ["0xnot-a-token"])
    assert without_tokens("SELECT 1", []) == "SELECT 1"
