"""The BigQuery source, with the client faked at its `query()` boundary."""

from __future__ import annotations

import base64
import concurrent.futures
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import requests
import sqlglot
from dagster import DagsterInstance, EnvVar, materialize, serialize_value
from dagster_gcp import BigQueryResource
from google.api_core import exceptions as google_exceptions
from google.auth.exceptions import DefaultCredentialsError, RefreshError

from eth_assets.chain.bigquery_calls import BigQueryExtractError, bigquery_sql, classify_error
from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.chain.source_columns import SourceAccessError, TransientSourceError
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets.resources.bigquery_source import BigQueryChainSource
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets_tests.fixtures import (
    ALICE,
    BOB,
    HUGE_TOKEN_VALUE,
    PLANTED_KEY_MARKER,
    TOKEN,
    FakeBigQuery,
    FakeClient,
    HangingJob,
    JobsClient,
    write_planted_service_account,
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


def _source(client: FakeClient | JobsClient, **kwargs: object) -> BigQueryChainSource:
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
    with pytest.raises(TransientSourceError, match="gave up after 3 attempts"):
        _source(client, max_attempts=3).fetch(TRANSACTIONS, START, END)
    assert len(client.calls) == 3


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


def test_real_resource_without_credentials_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No key file and no gcloud login: an access error saying what to set, never retried."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    source = BigQueryChainSource(bigquery=BigQueryResource(project="p"), max_attempts=1)
    with pytest.raises(SourceAccessError, match="GOOGLE_APPLICATION_CREDENTIALS") as raised:
        source.fetch(TRANSACTIONS, START, END)
    assert isinstance(raised.value.__cause__, DefaultCredentialsError)


def test_fetch_failure_leaves_the_lake_unchanged(tmp_path: Path) -> None:
    lake = ParquetLake(root=str(tmp_path / "lake"))
    ok = FakeClient([bigquery_transactions()])
    lake.replace_window(
        "transactions", lambda con: _source(ok).stage(con, TRANSACTIONS, START, END), START, END
    )
    failing = FakeClient([google_exceptions.Forbidden("Access Denied: permission")])
    with pytest.raises(SourceAccessError, match="GOOGLE_APPLICATION_CREDENTIALS"):
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


# Faults: only a failure worth retrying is a TransientSourceError, and every message names the
# table, the window and the job.

TABLE = "bigquery-public-data.crypto_ethereum.transactions"
WINDOW = "[2021-03-01 00:00:00+00:00, 2021-03-03 00:00:00+00:00)"


def _forbidden(reason: str, message: str) -> google_exceptions.Forbidden:
    """A 403 as BigQuery sends it: the reason in the payload's `errors` entries."""
    return google_exceptions.Forbidden(
        message, errors=[{"reason": reason, "domain": "global", "message": message}]
    )


def _failure_of(error: BaseException, **kwargs: object) -> tuple[BaseException, FakeClient]:
    """What fetch raises when the query's result raises `error` on every attempt."""
    client = FakeClient([error] * 4)
    with pytest.raises(Exception) as raised:
        _source(client, **kwargs).fetch(TRANSACTIONS, START, END)
    return raised.value, client


@pytest.mark.parametrize(
    "error",
    [
        google_exceptions.TooManyRequests("Quota exceeded: too many requests"),
        _forbidden("rateLimitExceeded", "Exceeded rate limits: too many concurrent queries"),
    ],
    ids=["429", "403-rateLimitExceeded"],
)
def test_rate_limits_are_transient_and_name_table_window_and_job(error: Exception) -> None:
    failure, client = _failure_of(error, max_attempts=2)
    assert isinstance(failure, TransientSourceError)
    message = str(failure)
    assert TABLE in message and WINDOW in message
    assert "BigQuery job job-1" in message and "gave up after 2 attempts" in message
    assert len(client.calls) == 2


def test_a_rate_limit_is_retried_in_process_until_it_passes() -> None:
    client = FakeClient(
        [_forbidden("rateLimitExceeded", "Exceeded rate limits"), bigquery_transactions()]
    )
    table, meta = _source(client).fetch(TRANSACTIONS, START, END)
    assert (table.num_rows, meta["bigquery_attempts"], len(client.calls)) == (2, 2, 2)


def test_permission_denied_fails_at_once_saying_which_permission() -> None:
    error = _forbidden(
        "accessDenied",
        "Access Denied: Project test-project: User does not have bigquery.jobs.create "
        "permission in project test-project.",
    )
    failure, client = _failure_of(error)
    assert isinstance(failure, SourceAccessError)
    message = str(failure)
    assert TABLE in message and WINDOW in message
    assert "bigquery.jobs.create" in message  # Google's own words are kept
    assert "roles/bigquery.jobUser" in message and "GOOGLE_APPLICATION_CREDENTIALS" in message
    assert len(client.calls) == 1  # not retried


def test_a_spent_long_term_quota_is_not_retried() -> None:
    failure, client = _failure_of(
        _forbidden("quotaExceeded", "Quota exceeded: Your project exceeded quota for free query")
    )
    assert isinstance(failure, SourceAccessError)
    assert "long-term quota" in str(failure) and len(client.calls) == 1


@pytest.mark.parametrize(
    "error, expected",
    [
        (google_exceptions.TooManyRequests("slow down"), TransientSourceError),
        (google_exceptions.InternalServerError("boom"), TransientSourceError),
        (google_exceptions.BadGateway("bad gateway"), TransientSourceError),
        (google_exceptions.ServiceUnavailable("backend busy"), TransientSourceError),
        (google_exceptions.GatewayTimeout("gateway timeout"), TransientSourceError),
        (_forbidden("rateLimitExceeded", "Exceeded rate limits"), TransientSourceError),
        (concurrent.futures.TimeoutError(), TransientSourceError),
        (requests.exceptions.ConnectionError("Connection aborted"), TransientSourceError),
        (requests.exceptions.ReadTimeout("read timed out"), TransientSourceError),
        (ConnectionResetError(104, "Connection reset by peer"), TransientSourceError),
        (_forbidden("accessDenied", "Access Denied"), SourceAccessError),
        (_forbidden("billingNotEnabled", "Billing has not been enabled"), SourceAccessError),
        (_forbidden("quotaExceeded", "Quota exceeded"), SourceAccessError),
        (google_exceptions.Forbidden("403 with no reason"), SourceAccessError),
        (google_exceptions.Unauthorized("Request had invalid credentials"), SourceAccessError),
        (DefaultCredentialsError("Your default credentials were not found"), SourceAccessError),
        (RefreshError("invalid_grant: account not found"), SourceAccessError),
        (google_exceptions.BadRequest("Syntax error: Unexpected keyword"), BigQueryExtractError),
        (google_exceptions.NotFound("Not found: Dataset p:crypto"), BigQueryExtractError),
        (requests.exceptions.SSLError("certificate verify failed"), BigQueryExtractError),
        (ValueError("not a Google error"), BigQueryExtractError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_only_transient_failures_are_transient(error: BaseException, expected: type) -> None:
    failure = classify_error(error, f"BigQuery extract of {TABLE} for {WINDOW}", "job-9")
    assert type(failure) is expected
    assert f"BigQuery extract of {TABLE} for {WINDOW} (BigQuery job job-9)" in str(failure)


def test_access_errors_say_what_to_do() -> None:
    what = "BigQuery extract of t for w"
    billing = classify_error(_forbidden("billingNotEnabled", "Billing disabled"), what)
    assert "enable billing on $GOOGLE_CLOUD_PROJECT" in str(billing)
    missing = classify_error(google_exceptions.NotFound("Not found: Dataset p:x"), what)
    assert "ETH_ASSETS_BQ_DATASET" in str(missing)
    credentials = classify_error(DefaultCredentialsError("not found"), what)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(credentials)
    assert "gcloud auth application-default login" in str(credentials)


def test_a_hanging_query_fails_at_the_timeout_naming_it() -> None:
    release = threading.Event()
    client = JobsClient([HangingJob(release)])
    began = time.monotonic()
    try:
        with pytest.raises(TransientSourceError) as raised:
            _source(client, timeout_seconds=0.3).fetch(TRANSACTIONS, START, END)
        waited = time.monotonic() - began
    finally:
        release.set()
    message = str(raised.value)
    assert "timeout of 0.3 s" in message and "ETH_ASSETS_BQ_TIMEOUT_SECONDS" in message
    assert TABLE in message and WINDOW in message and "BigQuery job job-hanging" in message
    assert 0.3 <= waited < 5
    assert len(client.calls) == 1  # a timeout is left to the run's retry policy
    assert int(client.calls[0][1].job_timeout_ms) == 300  # BigQuery stops the job at the same limit


def test_the_timeout_comes_from_the_environment_when_not_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ETH_ASSETS_BQ_TIMEOUT_SECONDS", raising=False)
    client = FakeClient([bigquery_transactions()])
    _source(client).fetch(TRANSACTIONS, START, END)
    assert int(client.calls[0][1].job_timeout_ms) == 600_000
    monkeypatch.setenv("ETH_ASSETS_BQ_TIMEOUT_SECONDS", "0.2")
    release = threading.Event()
    try:
        with pytest.raises(TransientSourceError, match=r"timeout of 0\.2 s"):
            _source(JobsClient([HangingJob(release)])).fetch(TRANSACTIONS, START, END)
    finally:
        release.set()
    monkeypatch.setenv("ETH_ASSETS_BQ_TIMEOUT_SECONDS", "soon")
    with pytest.raises(ValueError, match="ETH_ASSETS_BQ_TIMEOUT_SECONDS='soon' is not a number"):
        _source(FakeClient([bigquery_transactions()])).fetch(TRANSACTIONS, START, END)


def test_a_timeout_inside_the_client_library_is_retried() -> None:
    client = FakeClient([concurrent.futures.TimeoutError(), bigquery_transactions()])
    table, meta = _source(client).fetch(TRANSACTIONS, START, END)
    assert (table.num_rows, meta["bigquery_attempts"]) == (2, 2)


# Credentials never reach a log, an event, run storage or the console.


def _files_containing(root: Path, needle: str) -> list[str]:
    data = needle.encode()
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and data in p.read_bytes())


def _run_text(instance: DagsterInstance, run_id: str) -> str:
    """Every event of the run (messages, metadata, errors) and the run record, serialized."""
    events = [serialize_value(entry) for entry in instance.all_logs(run_id)]
    return "\n".join([*events, serialize_value(instance.get_run_by_id(run_id))])


RANGE_TAGS = {
    "dagster/asset_partition_range_start": "2021-03-01",
    "dagster/asset_partition_range_end": "2021-03-02",
}


def test_credentials_never_reach_logs_events_or_storage(
    make_resources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    """A planted service-account key, in the key file, in an environment variable and in the
    BigQuery resource's config, appears nowhere the runs write, successful or failed."""
    key_file = write_planted_service_account(tmp_path / "service-account.json")
    encoded_key = base64.b64encode(key_file.read_bytes()).decode()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("ETH_ASSETS_TEST_GCP_CREDENTIALS", encoded_key)
    client = FakeClient(
        {"transactions": [bigquery_transactions()], "token_transfers": [bigquery_token_transfers()]}
    )
    fake = FakeBigQuery(
        project="test-project",
        fake_client_key=FakeBigQuery.around(client).fake_client_key,
        gcp_credentials=EnvVar("ETH_ASSETS_TEST_GCP_CREDENTIALS"),
    )
    instance_dir = tmp_path / "instance"
    instance_dir.mkdir()
    with DagsterInstance.local_temp(str(instance_dir)) as instance:
        ok = materialize(
            [raw_transactions, raw_token_transfers],
            resources=make_resources(source=BigQueryChainSource(bigquery=fake)),
            instance=instance,
            tags=RANGE_TAGS,
        )
        # The real client, given the planted (unusable) key file: fails reading it.
        failed = materialize(
            [raw_transactions],
            resources=make_resources(
                source=BigQueryChainSource(bigquery=BigQueryResource(project="test-project"))
            ),
            instance=instance,
            tags=RANGE_TAGS,
            raise_on_error=False,
        )
        ok_text, failed_text = _run_text(instance, ok.run_id), _run_text(instance, failed.run_id)
    console = capfd.readouterr()
    # The scans see what the runs wrote: the job id in metadata, the failure's advice.
    assert ok.success and not failed.success
    assert "job-1" in ok_text and _files_containing(instance_dir, "job-1")
    assert "GOOGLE_APPLICATION_CREDENTIALS" in failed_text
    assert "raw_transactions" in console.out + console.err
    for secret in (PLANTED_KEY_MARKER, encoded_key):
        assert secret not in ok_text and secret not in failed_text
        assert _files_containing(instance_dir, secret) == []
        assert secret not in console.out and secret not in console.err
