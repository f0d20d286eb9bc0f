"""The BigQuery source, with the client faked at its `query()` boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from dagster import DagsterInstance, materialize
from dagster_gcp import BigQueryResource
from google.api_core import exceptions as google_exceptions

from eth_assets.assets.raw import raw_token_transfers, raw_transactions
from eth_assets.resources.bigquery_source import (
    BigQueryChainSource,
    BigQueryExtractError,
    bigquery_sql,
)
from eth_assets.resources.lake import ParquetLake
from eth_assets.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets_tests.fixtures import (
    ALICE,
    BOB,
    HUGE_TOKEN_VALUE,
    TOKEN,
    FakeBigQuery,
    FakeClient,
)


def bigquery_transactions() -> pa.Table:
    """Rows typed as BigQuery returns them: NUMERIC value, UTC microsecond timestamps."""
    return pa.table(
        {
            "hash": ["0x01", "0x02"],
            "nonce": pa.array([0, 1], pa.int64()),
            "transaction_index": pa.array([0, 0], pa.int64()),
            "from_address": [ALICE, ALICE],
            "to_address": [BOB, None],
            "value": pa.array(
                [Decimal("1000000000000000000.000000000"), Decimal(0)], pa.decimal128(38, 9)
            ),
            "gas": pa.array([21000, 90000], pa.int64()),
            "gas_price": pa.array([10**9, 10**9], pa.int64()),
            "receipt_gas_used": pa.array([21000, 80000], pa.int64()),
            "receipt_contract_address": [None, "0x" + "c3" * 20],
            "receipt_status": pa.array([1, 1], pa.int64()),
            "receipt_effective_gas_price": pa.array([10**9, 10**9], pa.int64()),
            "block_timestamp": pa.array(
                [datetime(2021, 3, 1, 1, tzinfo=UTC), datetime(2021, 3, 2, 23, tzinfo=UTC)],
                pa.timestamp("us", tz="UTC"),
            ),
            "block_number": pa.array([5, 6], pa.int64()),
            "block_hash": ["0xb5", "0xb6"],
        }
    )


def bigquery_token_transfers() -> pa.Table:
    return pa.table(
        {
            "token_address": [TOKEN],
            "from_address": [ALICE],
            "to_address": [BOB],
            "value": [HUGE_TOKEN_VALUE],
            "transaction_hash": ["0x03"],
            "log_index": pa.array([4], pa.int64()),
            "block_timestamp": pa.array(
                [datetime(2021, 3, 1, 5, tzinfo=UTC)], pa.timestamp("us", tz="UTC")
            ),
            "block_number": pa.array([5], pa.int64()),
            "block_hash": ["0xb5"],
            "token_name": ["Scam"],
            "token_symbol": ["SCM"],
            "token_decimals": pa.array([18], pa.int64()),
        }
    )


def _source(client: FakeClient, **kwargs: object) -> BigQueryChainSource:
    return BigQueryChainSource(
        bigquery=FakeBigQuery.around(client),
        retry_delay_seconds=0.0,
        **kwargs,
    )


START = datetime(2021, 3, 1, tzinfo=UTC)
END = datetime(2021, 3, 3, tzinfo=UTC)


def test_one_parameterised_query_per_range_with_bytes_cap() -> None:
    client = FakeClient([bigquery_transactions()])
    source = _source(client, maximum_bytes_billed=123_456_789)
    table, meta = source.fetch(TRANSACTIONS, START, END)
    assert table.num_rows == 2
    assert len(client.calls) == 1
    sql, config = client.calls[0]
    assert "`bigquery-public-data.crypto_ethereum.transactions`" in sql
    assert "block_timestamp >= @start AND block_timestamp < @end" in sql
    assert "2021-03-01" not in sql  # the window travels as parameters, never in the text
    params = {p.name: (p.type_, p.value) for p in config.query_parameters}
    assert params == {"start": ("TIMESTAMP", START), "end": ("TIMESTAMP", END)}
    assert config.maximum_bytes_billed == 123_456_789
    assert meta["bigquery_bytes_billed"] == 10 * 2**20


@pytest.mark.parametrize("table", [TRANSACTIONS, TOKEN_TRANSFERS])
def test_sql_is_valid_bigquery_and_selects_the_canonical_columns(table) -> None:
    sql = bigquery_sql(table, "bigquery-public-data.crypto_ethereum")
    parsed = sqlglot.parse_one(sql, read="bigquery")
    assert [e.alias_or_name for e in parsed.expressions] == table.column_names
    assert sqlglot.transpile(sql, read="bigquery", write="bigquery")


def test_dataset_name_is_validated() -> None:
    with pytest.raises(ValueError, match="invalid BigQuery dataset"):
        bigquery_sql(TRANSACTIONS, "x`; DROP TABLE y; --")


def test_transient_error_is_retried() -> None:
    client = FakeClient(
        [google_exceptions.ServiceUnavailable("backend busy"), bigquery_transactions()]
    )
    table, meta = _source(client).fetch(TRANSACTIONS, START, END)
    assert table.num_rows == 2
    assert meta["bigquery_attempts"] == 2
    assert len(client.calls) == 2


def test_transient_errors_give_up_after_max_attempts() -> None:
    client = FakeClient([google_exceptions.InternalServerError("boom")] * 3)
    with pytest.raises(BigQueryExtractError, match="failed after 3 attempts"):
        _source(client, max_attempts=3).fetch(TRANSACTIONS, START, END)


def test_permanent_error_fails_at_once_with_a_clear_message() -> None:
    error = google_exceptions.BadRequest(
        "Query exceeded limit for bytes billed: 1000. 5000 or higher required."
    )
    client = FakeClient([error, bigquery_transactions()])
    with pytest.raises(BigQueryExtractError) as raised:
        _source(client).fetch(TRANSACTIONS, START, END)
    message = str(raised.value)
    assert "transactions" in message and "maximum_bytes_billed" in message
    assert len(client.calls) == 1


def test_results_are_written_like_any_other_source(make_resources) -> None:
    client = FakeClient(
        {"transactions": [bigquery_transactions()], "token_transfers": [bigquery_token_transfers()]}
    )
    resources = make_resources(source=_source(client))
    lake = resources["lake"]
    result = materialize(
        [raw_transactions, raw_token_transfers],
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2021-03-01",
            "dagster/asset_partition_range_end": "2021-03-02",
        },
    )
    assert result.success
    assert len(client.calls) == 2  # one query per table for the whole range
    tx = duckdb.sql(
        f"SELECT hash, value, to_address, block_date FROM ({lake.relation_sql('transactions')}) "
        "ORDER BY hash"
    ).fetchall()
    assert [(h, int(v), t, str(d)) for h, v, t, d in tx] == [
        ("0x01", 10**18, BOB, "2021-03-01"),
        ("0x02", 0, None, "2021-03-02"),
    ]
    transfers = duckdb.sql(
        f"SELECT value, token_decimals FROM ({lake.relation_sql('token_transfers')})"
    ).fetchall()
    assert transfers == [(HUGE_TOKEN_VALUE, 18)]
    events = result.asset_materializations_for_node("raw_transactions")
    per_day = {e.partition: e.metadata["dagster/row_count"].value for e in events}
    assert per_day == {"2021-03-01": 1, "2021-03-02": 1}


def test_real_resource_without_credentials_fails_clearly() -> None:
    from google.auth.exceptions import DefaultCredentialsError

    source = BigQueryChainSource(bigquery=BigQueryResource(project="p"), max_attempts=1)
    with pytest.raises((DefaultCredentialsError, BigQueryExtractError, OSError)):
        source.fetch(TRANSACTIONS, START, END)


def test_fetch_failure_leaves_the_lake_unchanged(tmp_path: Path) -> None:
    lake = ParquetLake(root=str(tmp_path / "lake"))
    ok = FakeClient([bigquery_transactions()])
    lake.replace_window(
        "transactions", lambda con: _source(ok).stage(con, TRANSACTIONS, START, END), START, END
    )
    failing = FakeClient([google_exceptions.Forbidden("Access Denied: permission")])
    with pytest.raises(BigQueryExtractError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        lake.replace_window(
            "transactions",
            lambda con: _source(failing).stage(con, TRANSACTIONS, START, END),
            START,
            END,
        )
    assert duckdb.sql(f"SELECT count(*) FROM ({lake.relation_sql('transactions')})").fetchall() == [
        (2,)
    ]


def test_duckdb_reads_bigquery_numeric_exactly() -> None:
    con = duckdb.connect()
    view, _ = _source(FakeClient([bigquery_transactions()])).stage(con, TRANSACTIONS, START, END)
    assert con.execute(f"SELECT any_value(typeof(value)), max(value) FROM {view}").fetchall() == [
        ("DECIMAL(38,0)", 10**18)
    ]
