"""BigQuery that cannot be reached: with well-formed credentials and no route, the client library
retries its connection for ten minutes per attempt. The source checks the client's endpoint
first and fails at once, without retries, naming what it could not reach; what it waits for is
logged before it waits. The client is faked at its boundary: an object with the real client's
endpoint attribute whose query() blocks, as the real one does while it retries."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pytest
import requests
from dagster import Failure
from urllib3.exceptions import MaxRetryError, NameResolutionError

from eth_assets.chain.bigquery_calls import BigQueryUnreachableError, classify_error
from eth_assets.chain.retries import fail_without_retry_unless_transient
from eth_assets.chain.schemas import TRANSACTIONS
from eth_assets.chain.source_columns import TransientSourceError
from eth_assets.resources.bigquery_source import BigQueryChainSource
from eth_assets_tests.fixtures import FakeBigQuery

START = datetime(2021, 3, 1, tzinfo=UTC)
END = datetime(2021, 3, 3, tzinfo=UTC)


class _Connection:
    def __init__(self, base_url: str) -> None:
        self.API_BASE_URL = base_url


class _Job:
    job_id = "job-1"
    total_bytes_billed = 0

    def to_arrow(self) -> pa.Table:
        return pa.table({"hash": ["0x01"]})


class UnroutedClient:
    """A BigQuery client whose endpoint is `base_url` and whose query() blocks until released
    (the real library retrying a connection it cannot open); counts the queries."""

    def __init__(self, base_url: str, release: threading.Event | None = None) -> None:
        self._connection = _Connection(base_url)
        self.release = release
        self.queries = 0

    def query(self, sql: str, job_config: object = None) -> _Job:
        self.queries += 1
        if self.release is not None:
            self.release.wait()
        return _Job()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets a blocked fake query go when the test ends."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def _source(client: UnroutedClient, **kwargs: object) -> BigQueryChainSource:
    settings = {"timeout_seconds": 5.0, "retry_delay_seconds": 0.0, "max_attempts": 4}
    return BigQueryChainSource(bigquery=FakeBigQuery.around(client), **{**settings, **kwargs})


def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _fails_fast(source: BigQueryChainSource) -> tuple[BigQueryUnreachableError, float]:
    began = time.monotonic()
    with pytest.raises(BigQueryUnreachableError) as raised:
        source.fetch(TRANSACTIONS, START, END)
    return raised.value, time.monotonic() - began


def test_a_refused_endpoint_fails_at_once_without_retries(release: threading.Event) -> None:
    """Before: the query waited out the timeout, then failed as transient and was retried."""
    port = _closed_port()
    client = UnroutedClient(f"http://127.0.0.1:{port}", release)
    error, waited = _fails_fast(_source(client))
    assert waited < 3
    message = str(error)
    assert f"cannot reach the BigQuery endpoint 127.0.0.1:{port} (connection refused)" in message
    assert "project test-project, dataset bigquery-public-data.crypto_ethereum" in message
    assert "crypto_ethereum.transactions" in message and "HTTPS_PROXY" in message
    assert "nothing was queried or billed" in message
    assert client.queries == 0
    assert not isinstance(error, TransientSourceError)
    failure = fail_without_retry_unless_transient(error)
    assert isinstance(failure, Failure) and failure.allow_retries is False


def test_a_failed_dns_lookup_fails_at_once(
    release: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_dns(*args: object, **kwargs: object) -> list:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    client = UnroutedClient("https://bigquery.googleapis.com", release)
    error, waited = _fails_fast(_source(client))
    assert waited < 3
    assert "bigquery.googleapis.com:443 (DNS lookup failed: Name or service not known)" in str(
        error
    )
    assert client.queries == 0


def test_no_route_fails_within_the_connect_timeout(
    release: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection attempt that never completes (packets dropped) waits the connect timeout,
    not the query timeout."""
    dropped = threading.Event()

    def silent(*args: object, **kwargs: object) -> socket.socket:
        dropped.wait(30)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    client = UnroutedClient("https://bigquery.googleapis.com", release)
    try:
        error, waited = _fails_fast(_source(client, connect_timeout_seconds=0.3))
    finally:
        dropped.set()
    assert 0.3 <= waited < 3
    assert "bigquery.googleapis.com:443 (no connection within 0.3 s)" in str(error)
    assert "ETH_ASSETS_BQ_CONNECT_TIMEOUT_SECONDS" in str(error)


def test_the_proxy_is_what_is_checked_when_one_is_set(
    release: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = UnroutedClient("https://bigquery.googleapis.com", release)
    error, _ = _fails_fast(_source(client))
    assert (
        f"cannot reach the BigQuery HTTPS proxy for bigquery.googleapis.com 127.0.0.1:{port}"
        in str(error)
    )


def test_a_reachable_endpoint_is_queried(caplog: pytest.LogCaptureFixture) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        client = UnroutedClient(f"http://127.0.0.1:{listener.getsockname()[1]}")
        with caplog.at_level(logging.INFO):
            table, meta = _source(client).fetch(TRANSACTIONS, START, END)
    finally:
        listener.close()
    assert (table.num_rows, meta["bigquery_attempts"], client.queries) == (1, 1, 1)
    waiting = [r.getMessage() for r in caplog.records if "waiting up to" in r.getMessage()]
    assert len(waiting) == 1
    assert "crypto_ethereum.transactions" in waiting[0]
    assert "project test-project, dataset bigquery-public-data.crypto_ethereum" in waiting[0]
    assert "up to 5 s per attempt (up to 4 attempts)" in waiting[0]


def _library_error(reason: BaseException) -> requests.ConnectionError:
    """What requests raises when urllib3 could not open a connection, as the Google client
    library passes it on."""
    return requests.ConnectionError(MaxRetryError(None, "/bigquery/v2/projects/p/jobs", reason))


def test_library_errors_that_mean_unreachable_are_not_retried() -> None:
    dns = NameResolutionError("bigquery.googleapis.com", None, socket.gaierror(-2, "no name"))
    refused = ConnectionRefusedError(111, "Connection refused")
    for reason, expected in ((dns, "DNS lookup failed"), (refused, "connection refused")):
        failure = classify_error(_library_error(reason), "BigQuery extract of t")
        assert isinstance(failure, BigQueryUnreachableError)
        assert expected in str(failure)
    dropped = requests.ConnectionError("Connection aborted.", ConnectionResetError(104, "reset"))
    assert isinstance(classify_error(dropped, "BigQuery extract of t"), TransientSourceError)
