"""Calling BigQuery: the extract queries, calls bounded by a timeout, a reachability probe, and
failures sorted into transient, access and extract errors (plain code behind the BigQuery chain
source).

Failures are sorted as google-cloud-bigquery's own retry predicate sorts them: a rate limit (429,
or 403 with reason `rateLimitExceeded`), a 5xx, a timeout or a dropped connection is a
TransientSourceError, worth another attempt; missing credentials, a refused permission, billing
or a spent quota is a SourceAccessError; anything else (bad request, the bytes cap, a dataset not
found) a BigQueryExtractError. Every call is bounded by a timeout.

An endpoint that cannot be reached at all (no DNS answer, connection refused, no route) is not
worth retrying: before its first query, the source connects to the client's endpoint (or its
HTTPS proxy) within a short timeout and fails at once, with BigQueryUnreachableError, instead of
waiting out the client library's own retries (ten minutes per attempt). What it waits for
(project, dataset, query) is logged before each wait.
"""

from __future__ import annotations

import errno
import re
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

import requests
from google.api_core import exceptions as google_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud import bigquery

from eth_assets.chain.schemas import RawTable
from eth_assets.chain.source_columns import SourceAccessError, TransientSourceError
from eth_assets.common.sql_files import load_sql
from eth_assets.settings import (
    BQ_CONNECT_TIMEOUT_ENV,
    BQ_DATASET_ENV,
    BQ_MAX_BYTES_ENV,
    GOOGLE_PROJECT_ENV,
)

_DATASET_PATTERN = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_]+)?$")
T = TypeVar("T")

# Errors worth another attempt when BigQuery gives no reason: the service was busy or briefly
# unreachable. (requests' SSLError is a ConnectionError but a configuration fault: not here.)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    google_exceptions.ServiceUnavailable,
    google_exceptions.InternalServerError,
    google_exceptions.TooManyRequests,
    google_exceptions.BadGateway,
    google_exceptions.GatewayTimeout,
    ConnectionError,
    TimeoutError,  # also concurrent.futures.TimeoutError and socket.timeout
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    auth_exceptions.TransportError,
)
# Reasons in BigQuery's error payload that mean "try again later", as the client library's own
# retry predicate (google.cloud.bigquery.retry) and job retry read them. A 403 with
# `rateLimitExceeded` is a short-term limit; `quotaExceeded` is a long-term one (hours).
RETRYABLE_REASONS = frozenset(
    {
        "rateLimitExceeded",
        "backendError",
        "internalError",
        "badGateway",
        "jobRateLimitExceeded",
        "jobBackendError",
        "jobInternalError",
    }
)
_CREDENTIALS_HELP = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file (or run "
    f"`gcloud auth application-default login`) and {GOOGLE_PROJECT_ENV} to the project that pays"
)
# What to do about each non-retryable refusal, by the reason BigQuery gives.
ACCESS_REASONS: dict[str, str] = {
    "accessDenied": (
        "the credentials lack a permission: grant the account roles/bigquery.jobUser on "
        f"${GOOGLE_PROJECT_ENV} (the project that runs and pays for the query) and "
        "roles/bigquery.dataViewer on the dataset; the account is the one in "
        "GOOGLE_APPLICATION_CREDENTIALS (or of `gcloud auth application-default login`)"
    ),
    "billingNotEnabled": (
        f"enable billing on ${GOOGLE_PROJECT_ENV}, or point it at a project with billing"
    ),
    "quotaExceeded": (
        f"a long-term quota of ${GOOGLE_PROJECT_ENV} is spent (the message says which): wait "
        "for it to reset or raise it in the Cloud console; a narrower partition range or a "
        f"lower {BQ_MAX_BYTES_ENV} uses less"
    ),
    "billingTierLimitExceeded": "the query needs a higher billing tier; narrow the partition range",
}


class BigQueryExtractError(RuntimeError):
    """A BigQuery extraction failed for good; the message says which query and why."""


class CallTimedOut(TimeoutError):
    """A BigQuery call outlived the chain source's timeout_seconds."""


class BigQueryUnreachableError(SourceAccessError):
    """The BigQuery endpoint cannot be reached from this machine (no DNS answer, connection
    refused, no route, no connection within the connect timeout): no retry helps until the
    network, proxy or endpoint is fixed."""


_UNREACHABLE_HELP = (
    "check this machine's network, DNS and firewall, and HTTPS_PROXY/NO_PROXY if a proxy is "
    f"needed; nothing was queried or billed. ${BQ_CONNECT_TIMEOUT_ENV} sets how long the "
    "connection may take"
)
# OS errors of a connection attempt that mean "not reachable from here" (not a dropped link).
_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ENETUNREACH: "network unreachable (no route)",
    errno.EHOSTUNREACH: "host unreachable (no route)",
}


def bigquery_sql(table: RawTable, dataset: str) -> str:
    """The extraction SQL of `table` against `dataset` (project.dataset), window as parameters."""
    if not _DATASET_PATTERN.match(dataset):
        raise ValueError(f"invalid BigQuery dataset {dataset!r}: expected project.dataset")
    return load_sql(f"bigquery_{table.name}").replace("{dataset}", dataset)


def window_parameters(start: datetime, end: datetime) -> list[bigquery.ScalarQueryParameter]:
    """The block-time window as TIMESTAMP query parameters @start and @end."""
    return [
        bigquery.ScalarQueryParameter("start", "TIMESTAMP", start),
        bigquery.ScalarQueryParameter("end", "TIMESTAMP", end),
    ]


def call_within(seconds: float, call: Callable[[], T]) -> T:
    """`call()`, waited for at most `seconds`; raises CallTimedOut after that.

    The call runs in a daemon thread, so a hung socket or download cannot hold the run (the
    thread is left behind; the job's own job_timeout_ms stops it in BigQuery).
    """
    outcome: dict[str, object] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed to the waiting thread, raised there
            outcome["error"] = error
        finally:
            finished.set()

    threading.Thread(target=run, name="bigquery-call", daemon=True).start()
    if not finished.wait(seconds):
        raise CallTimedOut(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def client_endpoint(client: object) -> tuple[str, int, str] | None:
    """The host, port and role (`endpoint` or `HTTPS proxy`) a BigQuery client connects to
    first, or None when the client does not say (a test's fake)."""
    base = getattr(getattr(client, "_connection", None), "API_BASE_URL", None)
    if not isinstance(base, str) or not base:
        return None
    parts = urlsplit(base)
    host = parts.hostname or ""
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        through = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return through.hostname or "", through.port or 8080, f"HTTPS proxy for {host}"
    return host, parts.port or (443 if parts.scheme == "https" else 80), "endpoint"


def check_reachable(host: str, port: int, role: str, timeout: float, what: str) -> None:
    """Open (and close) a TCP connection to host:port within `timeout` seconds, name lookup
    included; BigQueryUnreachableError naming it and `what` when that fails."""

    def connect() -> None:
        socket.create_connection((host, port), timeout=timeout).close()

    try:
        call_within(timeout, connect)
    except CallTimedOut:
        reason = f"no connection within {timeout:g} s"
    except OSError as error:
        reason = unreachable_reason(error) or f"{type(error).__name__}: {error}"
    else:
        return
    raise BigQueryUnreachableError(
        f"{what}: cannot reach the BigQuery {role} {host}:{port} ({reason}); {_UNREACHABLE_HELP}"
    )


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and every error it wraps (causes, contexts, urllib3 reasons, arguments)."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        wrapped += list(getattr(current, "args", ()))
        stack += [e for e in wrapped if isinstance(e, BaseException)]


def unreachable_reason(error: BaseException) -> str | None:
    """Why a connection could not be opened at all (DNS, refused, no route), when `error` or
    an error it wraps says so; None for anything else (a dropped connection, a timeout)."""
    for inner in _chain(error):
        if isinstance(inner, socket.gaierror):
            return f"DNS lookup failed: {inner.strerror or inner}"
        if type(inner).__name__ == "NameResolutionError":  # urllib3's, without importing it
            return f"DNS lookup failed: {inner}"
        if isinstance(inner, OSError) and inner.errno in _UNREACHABLE_ERRNOS:
            return _UNREACHABLE_ERRNOS[inner.errno]
    return None


def error_reasons(error: BaseException) -> list[str]:
    """The `reason` of each entry of a Google API error's payload (e.g. `rateLimitExceeded`)."""
    entries = getattr(error, "errors", None) or []
    reasons = [e.get("reason") for e in entries if isinstance(e, dict)]
    return [r for r in reasons if isinstance(r, str)]


def classify_error(error: BaseException, what: str, job_id: str = "") -> Exception:
    """The project's error for a failed BigQuery call, its message naming `what` and the job.

    TransientSourceError for rate limits, 5xx, timeouts and dropped connections;
    SourceAccessError for credentials, permissions, billing and long-term quota, saying what
    to set or grant; BigQueryExtractError for the rest (bad request, bytes cap, not found).
    """
    if isinstance(error, BigQueryUnreachableError):
        return error
    reasons = error_reasons(error)
    where = f"{what}{job_suffix(job_id)}"
    unreachable = unreachable_reason(error)
    if unreachable is not None:
        return BigQueryUnreachableError(
            f"{where}: cannot reach BigQuery ({unreachable}); {_UNREACHABLE_HELP}"
        )
    if isinstance(error, auth_exceptions.DefaultCredentialsError):
        return SourceAccessError(
            f"{where}: no usable Google credentials ({error}); {_CREDENTIALS_HELP}"
        )
    if isinstance(error, auth_exceptions.RefreshError):
        if getattr(error, "retryable", False):
            return TransientSourceError(f"{where}: refreshing the credentials failed ({error})")
        return SourceAccessError(
            f"{where}: the credentials were refused ({error}); {_CREDENTIALS_HELP}"
        )
    if isinstance(error, google_exceptions.Unauthorized):
        return SourceAccessError(
            f"{where} was refused as unauthenticated: {error}; {_CREDENTIALS_HELP}"
        )
    access = next((r for r in reasons if r in ACCESS_REASONS), None)
    if access is not None:
        return SourceAccessError(f"{where} was refused: {error} — {ACCESS_REASONS[access]}")
    retryable = any(r in RETRYABLE_REASONS for r in reasons)
    if retryable or (
        isinstance(error, TRANSIENT_ERRORS)
        and not isinstance(error, requests.exceptions.SSLError)
        and not reasons
    ):
        return TransientSourceError(
            f"{where} failed transiently ({_describe(error)}); worth a retry"
        )
    if isinstance(error, google_exceptions.Forbidden):
        return SourceAccessError(f"{where} was refused: {error} — {ACCESS_REASONS['accessDenied']}")
    if isinstance(error, google_exceptions.NotFound):
        return BigQueryExtractError(
            f"{where} failed: {error} — check that ${BQ_DATASET_ENV} names an existing "
            "project.dataset that the credentials can read (and, for a copy, that its location "
            "matches the job's)"
        )
    return BigQueryExtractError(f"{where} failed: {_describe(error)}{_hint(error)}")


def _describe(error: BaseException) -> str:
    """`Type: message`, or the type alone when the message is empty."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def job_suffix(job_id: str) -> str:
    return f" (BigQuery job {job_id})" if job_id else ""


def _hint(error: BaseException) -> str:
    text = str(error).lower()
    if "bytes billed" in text or "bytesbilledlimitexceeded" in text:
        return (
            " — the query would scan more than maximum_bytes_billed allows; narrow the partition "
            f"range or raise {BQ_MAX_BYTES_ENV}"
        )
    return ""
