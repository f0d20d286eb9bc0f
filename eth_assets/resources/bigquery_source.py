"""BigQuery chain source: `bigquery-public-data.crypto_ethereum` (or a copy) through dagster-gcp;
the calls, their timeouts and the sorting of failures are in eth_assets.chain.bigquery_calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

import duckdb
import pyarrow as pa
from dagster import get_dagster_logger
from dagster_gcp import BigQueryResource
from google.cloud import bigquery
from pydantic import Field

from eth_assets.chain.bigquery_calls import (
    CallTimedOut,
    bigquery_sql,
    call_within,
    check_reachable,
    classify_error,
    client_endpoint,
    job_suffix,
    window_parameters,
)
from eth_assets.chain.schemas import RawTable
from eth_assets.chain.source_columns import TransientSourceError
from eth_assets.resources.chain_sources import ChainSource, map_columns
from eth_assets.settings import (
    BQ_CONNECT_TIMEOUT_ENV,
    BQ_STATE_DATASET_ENV,
    BQ_TIMEOUT_ENV,
    DEFAULT_BQ_DATASET,
    DEFAULT_BQ_MAX_BYTES,
    bigquery_connect_timeout_seconds,
    bigquery_state_dataset,
    bigquery_timeout_seconds,
    google_cloud_project,
)


class BigQueryChainSource(ChainSource):
    """Extracts one query per table and partition range from BigQuery, fetched as Arrow."""

    bigquery: BigQueryResource
    dataset: str = DEFAULT_BQ_DATASET
    maximum_bytes_billed: int = DEFAULT_BQ_MAX_BYTES
    max_attempts: int = Field(
        default=4,
        description="Attempts per query on a transient error (a timeout is not retried here: "
        "the run's retry policy decides).",
    )
    retry_delay_seconds: float = Field(
        default=10.0, description="Wait before the second attempt, doubled for each next one."
    )
    timeout_seconds: float | None = Field(
        default=None,
        description="Seconds one query may take, download included; BigQuery stops the job at "
        f"that limit too. Empty: ${BQ_TIMEOUT_ENV}, else 600.",
    )
    state_dataset: str | None = Field(
        default=None,
        description="Dataset (project.dataset, writable) where the bigquery feature engine keeps "
        f"the feature state, one table per state table partitioned by day. Empty: "
        f"${BQ_STATE_DATASET_ENV}.",
    )
    connect_timeout_seconds: float | None = Field(
        default=None,
        description="Seconds the connection to the BigQuery endpoint may take before the first "
        f"query; unreachable fails at once. Empty: ${BQ_CONNECT_TIMEOUT_ENV}, else 10.",
    )

    def describe(self) -> str:
        return f"bigquery:{self.dataset}"

    def holds_complete_histories(self) -> bool:
        """crypto_ethereum holds every transaction of every day it is asked for."""
        return True

    def call_timeout_seconds(self) -> float:
        """The configured timeout, else $ETH_ASSETS_BQ_TIMEOUT_SECONDS, else 600 seconds."""
        if self.timeout_seconds is None:
            return bigquery_timeout_seconds()
        if not 0 < self.timeout_seconds < float("inf"):
            raise ValueError(
                f"chain_source timeout_seconds={self.timeout_seconds!r} must be a positive, "
                "finite number of seconds"
            )
        return self.timeout_seconds

    def connect_timeout(self) -> float:
        """The configured connect timeout, else $ETH_ASSETS_BQ_CONNECT_TIMEOUT_SECONDS, else 10."""
        if self.connect_timeout_seconds is None:
            return bigquery_connect_timeout_seconds()
        if not 0 < self.connect_timeout_seconds < float("inf"):
            raise ValueError(
                f"chain_source connect_timeout_seconds={self.connect_timeout_seconds!r} must be a "
                "positive, finite number of seconds"
            )
        return self.connect_timeout_seconds

    def feature_state_dataset(self) -> str:
        """The configured state dataset, else $ETH_ASSETS_BQ_STATE_DATASET; an error naming the
        setting when neither is set (the bigquery engine keeps its state there)."""
        dataset = self.state_dataset or bigquery_state_dataset()
        if not dataset:
            raise ValueError(
                "the bigquery feature engine keeps its feature state in a BigQuery dataset of "
                f"yours: set {BQ_STATE_DATASET_ENV} (or chain_source state_dataset) to a writable "
                "project.dataset"
            )
        return dataset

    def project(self) -> str:
        """The project that runs and pays for the queries, as far as the configuration says."""
        return (
            self.bigquery.project
            or google_cloud_project()
            or "the credentials' default project (GOOGLE_CLOUD_PROJECT unset)"
        )

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
        rows: bool = True,
    ) -> tuple[pa.Table, dict[str, object]]:
        """Run one parameterised query (or script, `rows=False`: waited for, nothing downloaded,
        an empty table returned) under the bytes cap and the timeout.

        Transient errors are tried again up to max_attempts times with exponential backoff, a
        timeout is not (it has spent its time already). Raises TransientSourceError,
        SourceAccessError or BigQueryExtractError, each naming `what` and the job.
        """
        timeout = self.call_timeout_seconds()
        connect_timeout = self.connect_timeout()
        get_dagster_logger().info(
            f"{what}: project {self.project()}, dataset {self.dataset}; checking the endpoint "
            f"(up to {connect_timeout:g} s), then waiting up to {timeout:g} s per attempt "
            f"(up to {max(1, self.max_attempts)} attempts)"
        )
        config = bigquery.QueryJobConfig(
            query_parameters=parameters,
            maximum_bytes_billed=self.maximum_bytes_billed,
            job_timeout_ms=max(1, round(timeout * 1000)),  # BigQuery stops the job itself
        )
        for attempt in range(1, max(1, self.max_attempts) + 1):
            submitted: list[object] = []
            try:
                result, job = call_within(
                    timeout,
                    partial(
                        self._query, sql, config, submitted.append, what, connect_timeout, rows
                    ),
                )
                return result, {
                    "bigquery_job_id": str(getattr(job, "job_id", "")),
                    "bigquery_bytes_billed": int(getattr(job, "total_bytes_billed", 0) or 0),
                    "bigquery_attempts": attempt,
                }
            except Exception as error:
                job_id = str(getattr(submitted[0], "job_id", "")) if submitted else ""
                if isinstance(error, CallTimedOut):
                    raise TransientSourceError(
                        f"{what} did not finish within the timeout of {timeout:g} s "
                        f"(timeout_seconds, ${BQ_TIMEOUT_ENV}){job_suffix(job_id)}; BigQuery stops "
                        "the job at the same limit. Transient: a retry may pass; if it recurs, "
                        f"narrow the partition range or raise ${BQ_TIMEOUT_ENV}"
                    ) from None
                failure = classify_error(error, what, job_id)
                if isinstance(failure, TransientSourceError) and attempt < self.max_attempts:
                    time.sleep(self.retry_delay_seconds * 2 ** (attempt - 1))
                    continue
                if isinstance(failure, TransientSourceError) and attempt > 1:
                    failure = TransientSourceError(f"{failure} (gave up after {attempt} attempts)")
                raise failure from error
        raise AssertionError("unreachable")

    def _query(
        self,
        sql: str,
        config: bigquery.QueryJobConfig,
        on_submit: Callable[[object], None],
        what: str = "BigQuery query",
        connect_timeout: float | None = None,
        rows: bool = True,
    ) -> tuple[pa.Table, object]:
        """Check the client's endpoint answers a connection, submit the query and download its
        result as Arrow (or only wait for it: `rows=False`); `on_submit` sees the job first."""
        with self.bigquery.get_client() as client:
            endpoint = client_endpoint(client)
            if endpoint is not None:
                where = f"{what} (project {self.project()}, dataset {self.dataset})"
                check_reachable(*endpoint, connect_timeout or self.connect_timeout(), where)
            job = client.query(sql, job_config=config)
            on_submit(job)
            if not rows:
                job.result()
                return pa.table({}), job
            return job.to_arrow(), job
