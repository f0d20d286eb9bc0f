"""BigQuery push-down of the feature SQL: valid BigQuery, same results, wired to the asset."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlglot
from dagster import DagsterInstance, materialize

from eth_assets.common.duckdb_utils import connect
from eth_assets.features.farrugia import register_sample_views
from eth_assets.features.feature_assets import address_features
from eth_assets.features.feature_tables import FEATURE_COLUMNS, feature_sql
from eth_assets.features.pushdown import features_bigquery_sql, round_trip_to_duckdb
from eth_assets_tests.fixtures import (
    HELD_CASES,
    HISTORY_AS_OF,
    held_cases_connection,
)

DATASET = "bigquery-public-data.crypto_ethereum"
# Functions the transpiled query may call: each is documented BigQuery standard SQL.
BIGQUERY_FUNCTIONS = {
    "ABS", "ANY_VALUE", "CAST", "COALESCE", "COUNT", "COUNTIF", "IF", "LENGTH", "MAX", "MIN",
    "NULLIF", "NUMERIC", "BIGNUMERIC", "POWER", "RIGHT", "ROW_NUMBER", "SAFE_CAST", "SUBSTRING",
    "SUM", "UNNEST", "UNIX_SECONDS", "TIMESTAMP_DIFF", "AVG", "LAG", "LEAD", "GREATEST", "LEAST",
    "SAFE_DIVIDE", "ROUND", "LOWER", "STRUCT", "ARRAY_AGG", "EXISTS", "REGEXP_CONTAINS",
}  # fmt: skip


def test_pushed_down_sql_is_bigquery_sql() -> None:
    sql = features_bigquery_sql(DATASET)
    sqlglot.parse_one(sql, read="bigquery")
    assert f"`{DATASET}.transactions`" in sql
    assert f"`{DATASET}.token_transfers`" in sql
    assert f"`{DATASET}.tokens`" in sql
    assert "UNNEST(@addresses)" in sql
    assert "@as_of" in sql and "$as_of" not in sql
    assert "DATE_DIFF(" not in sql.upper().replace("TIMESTAMP_DIFF(", "")
    functions = set(re.findall(r"\b([A-Z_][A-Z_0-9]*)\(", sql))
    assert functions <= BIGQUERY_FUNCTIONS, functions - BIGQUERY_FUNCTIONS


def test_round_trip_gives_the_same_features_on_the_real_sample(shared_data: Path) -> None:
    con = connect()
    register_sample_views(con, shared_data / "raw_txns")
    params = {"as_of": datetime(2019, 4, 25, tzinfo=UTC)}
    local = con.sql(feature_sql(), params=params).df().sort_values("address").reset_index(drop=True)
    pushed = (
        con.sql(round_trip_to_duckdb(feature_sql()), params=params)
        .df()
        .sort_values("address")
        .reset_index(drop=True)
    )
    assert list(pushed.columns) == list(local.columns)
    assert len(local) == len(pushed) == 4113
    for column in local.columns:
        if local[column].dtype == object:
            assert local[column].equals(pushed[column]), column
        else:
            # Float sums differ in the last bit between runs of the same SQL (parallel
            # aggregation), so equality is to 1e-9 relative; NULLs must sit in the same rows.
            assert np.allclose(
                local[column].astype(float),
                pushed[column].astype(float),
                rtol=1e-9,
                atol=0.0,
                equal_nan=True,
            ), column


@pytest.mark.parametrize("configured, setting", [("bigquery", ""), ("", "bigquery")])
def test_engine_bigquery_needs_the_bigquery_source(
    resources: dict[str, object], monkeypatch: pytest.MonkeyPatch, configured: str, setting: str
) -> None:
    """The engine comes from the asset config, else from $ETH_ASSETS_FEATURE_ENGINE at run time;
    the default resources read a Parquet folder."""
    monkeypatch.setenv("ETH_ASSETS_FEATURE_ENGINE", setting)
    with pytest.raises(Exception, match="needs ETH_ASSETS_SOURCE=bigquery"):
        materialize(
            [address_features],
            resources=resources,
            instance=DagsterInstance.ephemeral(),
            run_config={
                "ops": {
                    "address_features": {"config": {"as_of": "2019-04-25", "engine": configured}}
                }
            },
        )


def test_round_trip_decides_held_tokens_exactly() -> None:
    """The push-down keeps uint256 balances exact (BIGNUMERIC parts) as the local query does."""
    con, holders = held_cases_connection()
    sql = round_trip_to_duckdb(feature_sql())
    rows = con.sql(sql, params={"as_of": HISTORY_AS_OF}).fetchall()
    held = {row[0]: row[FEATURE_COLUMNS.index("unique_tokens_held") + 1] for row in rows}
    assert [held[h] for h in holders] == [int(positive) for _, positive in HELD_CASES]
