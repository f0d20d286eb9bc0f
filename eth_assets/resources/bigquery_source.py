"""BigQuery chain source: `bigquery-public-data.crypto_ethereum` (or a copy) through dagster-gcp."""

from __future__ import annotations

import re
import time
from datetime import datetime

import duckdb
import pyarrow as pa
from dagster_gcp import BigQueryResource
from google.api_core import exceptions as google_exceptions
from google.cloud import bigquery

from eth_assets.resources.chain_sources import ChainSource, map_columns
from eth_assets.schemas import RawTable
from eth_assets.settings import DEFAULT_BQ_DATASET, DEFAULT_BQ_MAX_BYTES
from eth_assets.sql import load_sql

_DATASET_PATTERN = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_]+)?$")

# Errors worth another attempt: the service was busy or briefly unreachable.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    google_exceptions.ServiceUnavailable,
    google_exceptions.InternalServerError,
    google_exceptions.TooManyRequests,
    google_exceptions.BadGateway,
    google_exceptions.GatewayTimeout,
    ConnectionError,
    TimeoutError,
)


class BigQueryExtractError(RuntimeError):
    """A BigQuery extraction failed for good; the message says which query and why."""


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


class BigQueryChainSource(ChainSource):
    """Extracts one query per table and partition range from BigQuery, fetched as Arrow."""

    bigquery: BigQueryResource
    dataset: str = DEFAULT_BQ_DATASET
    maximum_bytes_billed: int = DEFAULT_BQ_MAX_BYTES
    max_attempts: int = 4
    retry_delay_seconds: float = 10.0

    def describe(self) -> str:
        return f"bigquery:{self.dataset}"

    def holds_complete_histories(self) -> bool:
        """crypto_ethereum holds every transaction of every day it is asked for."""
        return True

    def stage(
        self, con: duckdb.DuckDBPyConnection, table: RawTable, start: datetime, end: datetime
    ) -> tuple[str, dict[str, object]]:
        result, job_metadata = self.fetch(table, start, end)
        raw_name = f"bigquery_{table.name}"
        con.register(raw_name, result)
        available = {
            r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {raw_name}").fetchall()
        }
        expressions, nulls = map_columns(table, available, f"BigQuery result for {table.name}")
        view = f"source_{table.name}"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {', '.join(expressions)} FROM {raw_name}"
        )
        return view, {**job_metadata, "columns_filled_with_null": nulls}

    def fetch(
        self, table: RawTable, start: datetime, end: datetime
    ) -> tuple[pa.Table, dict[str, object]]:
        """Run the table's query for [start, end) with retries on transient errors."""
        sql = bigquery_sql(table, self.dataset)
        what = f"BigQuery extract of {self.dataset}.{table.bigquery_table} for [{start}, {end})"
        return self.query_arrow(sql, window_parameters(start, end), what)

    def query_arrow(
        self,
        sql: str,
        parameters: list[bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter],
        what: str,
    ) -> tuple[pa.Table, dict[str, object]]:
        """Run one parameterised query under the bytes cap, retrying transient errors."""
        config = bigquery.QueryJobConfig(
            query_parameters=parameters, maximum_bytes_billed=self.maximum_bytes_billed
        )
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self.bigquery.get_client() as client:
                    job = client.query(sql, job_config=config)
                    result = job.to_arrow()
                    return result, {
                        "bigquery_job_id": str(getattr(job, "job_id", "")),
                        "bigquery_bytes_billed": int(getattr(job, "total_bytes_billed", 0) or 0),
                        "bigquery_attempts": attempt,
                    }
            except TRANSIENT_ERRORS as error:
                if attempt == self.max_attempts:
                    raise BigQueryExtractError(
                        f"{what} failed after {attempt} attempts; last error: {error}"
                    ) from error
                time.sleep(self.retry_delay_seconds * 2 ** (attempt - 1))
            except google_exceptions.GoogleAPICallError as error:
                raise BigQueryExtractError(f"{what} failed: {error}{_hint(error)}") from error
        raise AssertionError("unreachable")


def _hint(error: BaseException) -> str:
    text = str(error).lower()
    if "bytes billed" in text or "bytesbilledlimitexceeded" in text:
        return (
            " — the query would scan more than maximum_bytes_billed allows; narrow the partition "
            "range or raise ETH_ASSETS_BQ_MAX_BYTES_BILLED"
        )
    if "access denied" in text or "permission" in text:
        return " — check GOOGLE_APPLICATION_CREDENTIALS and the project's BigQuery permissions"
    return ""
