"""Which features each raw column feeds, derived from the feature SQL: complete against the
features that really change when the column is NULL on the hand-built history, and named in full
by the warning about a column the source lacks."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize

from eth_assets.chain.schemas import RAW_TABLES
from eth_assets.features.feature_lineage import column_lineage, feature_lineage, features_reading
from eth_assets.features.feature_tables import (
    BEHAVIOUR_COLUMNS,
    FEATURE_COLUMNS,
    create_address_features,
    create_behaviour_features,
)
from eth_assets.lake.raw_assets import missing_column_warning, raw_token_transfers, raw_transactions
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets_tests.fixtures import (
    HISTORY_AS_OF,
    TOKEN_ROWS,
    TRANSACTIONS_ROWS,
    UNIVERSE,
    history_connection,
    resource_set,
    write_bigquery_schema_folder,
)

CONTRACT_VALUE_FEATURES = {
    "min_value_sent_to_contract",
    "max_val_sent_to_contract",
    "avg_value_sent_to_contract",
    "total_ether_sent_contracts",
}
GAS_PRICE_FEATURES = {"gas_price_vs_day", "gas_price_cv", "distinct_gas_price_share"}


def test_every_feature_has_a_lineage() -> None:
    assert list(feature_lineage()) == [*FEATURE_COLUMNS, *BEHAVIOUR_COLUMNS]


def test_the_receipt_and_gas_price_columns_name_what_the_old_warning_left_out() -> None:
    gas_used = set(features_reading("transactions", "receipt_gas_used"))
    assert CONTRACT_VALUE_FEATURES | {"balance_eth", "gas_used_ratio", "contract_call_share"} <= (
        gas_used
    )
    assert "erc20_total_ether_sent_contract" in gas_used  # contracts are known by gas used
    assert "total_ether_balance" not in gas_used  # received − sent: no fee in it
    status = set(features_reading("transactions", "receipt_status"))
    assert {"failed_sent_share", "total_ether_sent", "avg_val_received", "balance_eth"} <= status
    assert status >= CONTRACT_VALUE_FEATURES
    assert "sent_tnx" not in status  # counts count every transaction, failed or not
    assert set(features_reading("transactions", "gas_price")) == GAS_PRICE_FEATURES | {
        "balance_eth"
    }
    assert features_reading("transactions", "nonce") == []


def _features(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """address_features joined to behaviour_features of the connection's history."""
    create_address_features(con, HISTORY_AS_OF, "f")
    create_behaviour_features(con, HISTORY_AS_OF, "b")
    return con.sql("SELECT * FROM f JOIN b USING (address) ORDER BY address").pl()


def _changed(table: str, column: str) -> set[str]:
    """The features whose values change on the hand-built history when `table.column` is NULL."""
    whole = _features(history_connection(TRANSACTIONS_ROWS, TOKEN_ROWS, UNIVERSE))
    con = history_connection(TRANSACTIONS_ROWS, TOKEN_ROWS, UNIVERSE)
    con.execute(f'UPDATE {table} SET "{column}" = NULL')
    without = _features(con)
    return {
        name
        for name in whole.columns
        if name != "address" and not whole[name].equals(without[name], check_dtypes=False)
    }


OPTIONAL = [
    (table.name, name)
    for table in RAW_TABLES.values()
    for name, _ in table.columns
    if name not in table.required
]


@pytest.mark.parametrize(("table", "column"), OPTIONAL)
def test_nulling_a_column_changes_only_features_its_lineage_names(table: str, column: str) -> None:
    changed = _changed(table, column)
    assert changed <= set(features_reading(table, column)), changed
    if column in {"receipt_status", "receipt_gas_used", "gas_price", "token_decimals"}:
        assert changed  # the history exercises these, so the comparison means something


def test_a_left_join_condition_decides_only_the_joined_side() -> None:
    schema = {"t": {"k": "INT", "v": "INT", "flag": "INT"}, "u": {"k": "INT"}}
    sql = """
        WITH kept AS (SELECT k, sum(v) AS total FROM t WHERE flag = 1 GROUP BY k)
        SELECT u.k, kept.total, (SELECT count(*) FROM t WHERE v > 0) AS positive
        FROM u LEFT JOIN kept ON u.k = kept.k
    """
    lineage = column_lineage(sql, schema)
    assert lineage["k"] == {"u.k"}
    assert lineage["total"] == {"t.k", "t.v", "t.flag", "u.k"}
    assert lineage["positive"] == {"t.v"}  # a scalar subquery: its filter, not the row's


def test_the_warning_names_every_feature_and_why() -> None:
    warning = missing_column_warning("transactions", "gas_price", "parquet:/x")
    assert warning is not None
    for feature in GAS_PRICE_FEATURES | {"balance_eth"}:
        assert feature in warning
    assert "has no gas_price column" in warning and "parquet:/x" in warning
    assert missing_column_warning("transactions", "nonce", "parquet:/x") is None


def test_a_source_without_receipts_or_gas_price_warns_naming_the_features(tmp_path: Path) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "source")
    path = folder / "transactions.parquet"
    pq.write_table(pq.read_table(path).drop(["receipt_status", "gas_price"]), path)
    instance = DagsterInstance.ephemeral()
    result = materialize(
        [raw_transactions, raw_token_transfers],
        resources=resource_set(tmp_path, ParquetChainSource(folder=str(folder))),
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": "2020-01-01",
            "dagster/asset_partition_range_end": "2020-01-03",
        },
    )
    assert result.success
    warnings = [
        e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING
    ]
    [status] = [w for w in warnings if "has no receipt_status column" in w]
    assert all(f in status for f in CONTRACT_VALUE_FEATURES | {"failed_sent_share"})
    [gas_price] = [w for w in warnings if "has no gas_price column" in w]
    assert all(f in gas_price for f in GAS_PRICE_FEATURES)
