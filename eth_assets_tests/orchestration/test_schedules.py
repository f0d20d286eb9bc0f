"""The nightly schedule, the jobs, the label-file sensor and the source retry policy."""

from __future__ import annotations

import functools
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    Backoff,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    Failure,
    Jitter,
    RetryPolicy,
    RunRequest,
    SensorResult,
    SkipReason,
    asset,
    build_schedule_context,
    build_sensor_context,
    materialize,
    validate_run_config,
)

from eth_assets.chain.retries import SOURCE_RETRY_POLICY, fail_without_retry_unless_transient
from eth_assets.chain.source_columns import SourceAccessError, TransientSourceError
from eth_assets.orchestration.schedules import GRAPH_SELECT_ARGUMENT, ON_DEMAND_EVALUATIONS
from eth_assets.orchestration.sensors import LABEL_REFRESH_ASSETS, label_files_sensor
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets.settings import LABEL_FILES_ENV, SHARED_DATA_ENV

if TYPE_CHECKING:
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph


@functools.cache
def _defs() -> Definitions:
    """The code location, imported when first needed (as every test of it does)."""
    from eth_assets.definitions import defs

    return defs


def _graph() -> AssetGraph:
    return _defs().resolve_asset_graph()


def _all_but_benchmarks() -> set[str]:
    graph = _graph()
    return {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name != "benchmarks"
        and key.to_user_string() not in ON_DEMAND_EVALUATIONS
    }


def _job_assets(name: str) -> set[str]:
    job = _defs().resolve_job_def(name)
    return {key.to_user_string() for key in job.asset_layer.selected_asset_keys}


def _tick(when: datetime) -> list[RunRequest]:
    schedule = _defs().resolve_schedule_def("nightly_refresh")
    with DagsterInstance.ephemeral() as instance:
        context = build_schedule_context(instance=instance, scheduled_execution_time=when)
        return list(schedule.evaluate_tick(context).run_requests or [])


# The nightly schedule and the jobs.


@pytest.mark.parametrize(
    "tick, partition",
    [
        (datetime(2021, 1, 21, 2, 15, tzinfo=UTC), "2021-01-20"),
        (datetime(2021, 3, 1, 2, 15, tzinfo=UTC), "2021-02-28"),
    ],
)
def test_a_nightly_tick_requests_yesterday(tick: datetime, partition: str) -> None:
    [request] = _tick(tick)
    assert request.partition_key == partition
    assert request.job_name == "refresh"
    validate_run_config(_defs().resolve_job_def("refresh"), request.run_config)


def test_the_schedule_runs_at_0215_utc_and_is_off_by_default() -> None:
    schedule = _defs().resolve_schedule_def("nightly_refresh")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 2 * * *", "UTC")
    assert schedule.default_status.value == "STOPPED"  # ETH_ASSETS_NIGHTLY_SCHEDULE unset


def test_the_nightly_job_rebuilds_everything_but_the_benchmarks() -> None:
    selected = _job_assets("refresh")
    assert {"raw_transactions", "raw_token_transfers", "address_scores"} <= selected
    assert "published_benchmark" not in selected
    assert not selected & {"era_matched_evaluation", "out_of_time_evaluation"}
    assert selected == _all_but_benchmarks()
    checks = _defs().resolve_job_def("refresh").asset_layer.asset_graph.asset_check_keys
    assert {c.asset_key.to_user_string() for c in checks} <= _all_but_benchmarks()
    assert any(c.asset_key == AssetKey("address_features") for c in checks)


def test_full_refresh_takes_a_range_and_says_how_to_launch_it() -> None:
    job = _defs().resolve_job_def("full_refresh")
    assert _job_assets("full_refresh") == _all_but_benchmarks()
    assert job.partitions_def is not None
    description = job.description or ""
    assert "dagster job execute -m eth_assets.definitions -j full_refresh" in description
    tags = json.loads(re.search(r"--tags '(\{.*?\})'", description).group(1))
    start, end = (
        tags["dagster/asset_partition_range_start"],
        tags["dagster/asset_partition_range_end"],
    )
    assert job.partitions_def.has_partition_key(start) and start <= end
    assert f"--select '{GRAPH_SELECT_ARGUMENT}' --partition-range {start}...{end}" in description
    # The `dagster asset materialize --select` form names the same assets as the job.
    same = AssetSelection.from_coercible(GRAPH_SELECT_ARGUMENT.split(",")).resolve(_graph())
    assert {k.to_user_string() for k in same} == _all_but_benchmarks()


def test_every_asset_of_the_jobs_runs_a_range_in_one_run() -> None:
    """A range launched as one run needs a single-run backfill policy on every asset."""
    for name in ("full_refresh", "refresh", "label_refresh"):
        for key in _defs().resolve_job_def(name).asset_layer.selected_asset_keys:
            assert _graph().get(key).backfill_policy is not None, (name, key)


# The label-file sensor.


def test_the_label_refresh_is_every_asset_from_labels_to_scores() -> None:
    """What the sensor reruns: on a path illicit_labels → address_scores; no raw extract."""
    between = (
        AssetSelection.assets("illicit_labels").downstream()
        & AssetSelection.assets("address_scores").upstream()
    ).resolve(_graph())
    assert set(LABEL_REFRESH_ASSETS) == {k.to_user_string() for k in between}
    assert _job_assets("label_refresh") == set(LABEL_REFRESH_ASSETS)
    assert {
        "illicit_labels", "address_universe", "address_features", "clean_features",
        "training_set", "illicit_classifier", "address_scores",
    } <= set(LABEL_REFRESH_ASSETS)  # fmt: skip
    assert not any(_graph().get(AssetKey(a)).partitions_def for a in LABEL_REFRESH_ASSETS)


def test_the_sensor_is_off_by_default_and_launches_the_label_refresh() -> None:
    sensor = _defs().resolve_sensor_def("label_files_changed")
    assert sensor.default_status == DefaultSensorStatus.STOPPED
    assert sensor.job_name == "label_refresh"


def _evaluate(cursor: str | None, source: ParquetChainSource) -> SensorResult | SkipReason:
    context = build_sensor_context(cursor=cursor, resources={"chain_source": source})
    return label_files_sensor(context)


@pytest.fixture
def label_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A darklist named by $ETH_ASSETS_LABEL_FILES beside an empty CSV list."""
    darklist = tmp_path / "darklist.json"
    darklist.write_text('[{"address": "0x' + "ab" * 20 + '", "comment": "x", "date": ""}]')
    other = tmp_path / "other.csv"
    other.write_text("address\n")
    monkeypatch.setenv(LABEL_FILES_ENV, os.pathsep.join([str(darklist), str(other)]))
    return darklist


def test_a_changed_label_file_requests_one_label_refresh(label_file: Path) -> None:
    source = ParquetChainSource(folder=str(label_file.parent))
    first = _evaluate(None, source)
    assert isinstance(first, SensorResult) and not first.run_requests  # records only
    assert first.cursor and str(label_file) in json.loads(first.cursor)

    unchanged = _evaluate(first.cursor, source)
    assert isinstance(unchanged, SensorResult) and not unchanged.run_requests
    assert "unchanged" in unchanged.skip_reason.skip_message

    label_file.write_text('[{"address": "0x' + "cd" * 20 + '", "comment": "y", "date": ""}]')
    changed = _evaluate(unchanged.cursor, source)
    assert isinstance(changed, SensorResult)
    [request] = changed.run_requests
    assert request.asset_selection == [AssetKey(a) for a in LABEL_REFRESH_ASSETS]
    assert not {"raw_transactions", "raw_token_transfers"} & {
        k.to_user_string() for k in request.asset_selection
    }
    assert request.partition_key is None

    again = _evaluate(changed.cursor, source)
    assert isinstance(again, SensorResult) and not again.run_requests


def test_a_rewrite_with_the_same_content_requests_nothing(label_file: Path) -> None:
    source = ParquetChainSource(folder=str(label_file.parent))
    first = _evaluate(None, source)
    os.utime(label_file, ns=(1, 1))  # a new mtime, the same bytes
    touched = _evaluate(first.cursor, source)
    assert isinstance(touched, SensorResult) and not touched.run_requests


def test_a_missing_label_file_is_a_skip_naming_it(label_file: Path) -> None:
    source = ParquetChainSource(folder=str(label_file.parent))
    first = _evaluate(None, source)
    label_file.unlink()
    skipped = _evaluate(first.cursor, source)
    assert isinstance(skipped, SkipReason)
    assert str(label_file) in skipped.skip_message and LABEL_FILES_ENV in skipped.skip_message


def test_without_the_setting_it_watches_the_chain_sources_label_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LABEL_FILES_ENV, raising=False)
    monkeypatch.setenv(SHARED_DATA_ENV, str(tmp_path / "shared"))
    skipped = _evaluate(None, ParquetChainSource(folder=str(tmp_path)))
    assert isinstance(skipped, SkipReason)
    expected = tmp_path / "shared" / "labels" / "mew_addresses-darklist.json"
    assert str(expected) in skipped.skip_message


# Retries on transient source errors only.


def test_the_source_retry_policy() -> None:
    policy = SOURCE_RETRY_POLICY
    assert (policy.max_retries, policy.delay, policy.backoff, policy.jitter) == (
        3,
        30,
        Backoff.EXPONENTIAL,
        Jitter.PLUS_MINUS,
    )


def test_a_transient_error_is_raised_as_it_is() -> None:
    error = TransientSourceError("BigQuery extract of t for w: 429")
    assert fail_without_retry_unless_transient(error) is error


@pytest.mark.parametrize(
    "error", [SourceAccessError("403 accessDenied: grant roles/bigquery.jobUser"), ValueError("x")]
)
def test_any_other_error_becomes_a_failure_without_retry(error: Exception) -> None:
    failure = fail_without_retry_unless_transient(error)
    assert isinstance(failure, Failure)
    assert failure.description == str(error)
    assert failure.allow_retries is False


@pytest.mark.parametrize("error, attempts", [(TransientSourceError, 3), (SourceAccessError, 1)])
def test_dagster_retries_only_the_transient_error(error: type[Exception], attempts: int) -> None:
    """An asset raising through the helper under a retry policy (without delays, for speed)."""
    calls: list[int] = []

    @asset(retry_policy=RetryPolicy(max_retries=2))
    def extract(context) -> None:  # annotations are strings here: Dagster cannot read them
        calls.append(context.retry_number)
        try:
            raise error("BigQuery extract of t for w failed")
        except Exception as raised:
            raise fail_without_retry_unless_transient(raised) from raised

    result = materialize([extract], instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    assert calls == list(range(attempts))
