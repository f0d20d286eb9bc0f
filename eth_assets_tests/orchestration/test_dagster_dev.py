"""`dagster dev` end to end, driven through GraphQL as the UI drives it: the Quickstart's graph on a
small simulated chain, the nightly schedule, and a scheduled and a manual run at the same time
(the DuckDB warehouse and the SQLite instance shared by two runs are what unit tests cannot reach).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]


def _dagster_cli() -> str | None:
    """The `dagster` script beside this interpreter (the project's venv), else one on PATH."""
    beside = Path(sys.executable).with_name("dagster")
    return str(beside) if beside.is_file() else shutil.which("dagster")


DAGSTER = _dagster_cli()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(DAGSTER is None, reason="the dagster CLI is not installed"),
]

LOCATION = "eth_assets"
REPOSITORY = "__repository__"
ASSET_JOB = "__ASSET_JOB"
# The instance: the run queue of the README's .dagster_home/dagster.yaml (two runs at a time).
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 2
"""
FIRST_DAY, LAST_DAY = "2021-01-01", "2021-01-20"
SIMULATED_CHAIN = {
    "ETH_ASSETS_SIM_ACCOUNTS": "400",
    "ETH_ASSETS_SIM_DAYS": "20",
    "ETH_ASSETS_SIM_START": FIRST_DAY,
}
# The Quickstart's selection: the three leaves and everything upstream of them.
QUICKSTART_LEAVES = ("address_scores", "tsne_embedding", "model_comparison")
# Smaller grids than the defaults: the same steps in about two minutes on 2 cores.
SMALL_MODELS = {
    "ops": {
        "elbow_analysis": {"config": {"k_max": 6}},
        "tsne_embedding": {"config": {"perplexity": 20.0}},
        "investor_profiles": {"config": {"k_max": 5}},
        "training_set": {"config": {"folds": 5}},
        "illicit_classifier": {"config": {"paper_table_folds": [3]}},
        "model_comparison": {"config": {"catboost_iterations": 50}},
    }
}
# What the two concurrent runs materialize: the raw days and the warehouse's first two tables.
RAW_TO_FEATURES = [
    "raw_transactions",
    "raw_token_transfers",
    "address_universe",
    "address_features",
]
# Messages of the two ways concurrent runs fail: SQLite instance storage, DuckDB file lock.
LOCK_ERRORS = ("database is locked", "could not set lock on file")
STARTUP_SECONDS = 180
GRAPH_RUN_SECONDS = 600
SMALL_RUN_SECONDS = 300


@dataclass(frozen=True)
class DagsterDev:
    """A running `dagster dev`: its process, GraphQL address, output file and data folder."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    data_dir: Path

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the combined output of `dagster dev` and everything it started."""
        return self.log.read_text(errors="replace")[-chars:]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a GraphQL answer; fails on a GraphQL error, quoting it."""
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        response.raise_for_status()
        answer = response.json()
        assert not answer.get("errors"), f"GraphQL errors: {answer['errors']}\nquery: {query}"
        return answer["data"]


def _free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _default_signal_handling() -> None:
    """Run in the child before exec. A job a shell starts in the background inherits SIGINT
    ignored, and `dagster dev` gives SIGTERM whatever SIGINT does: it would ignore both."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _ppid, group = text[text.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def _wait_until_empty(pgid: int, seconds: float) -> list[int]:
    """Wait up to `seconds` for a process group to end; what is still alive."""
    deadline = time.monotonic() + seconds
    while (left := _group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    """Send a signal to a process group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group, then SIGKILL to whatever is left; fails if
    `dagster dev` ignored SIGTERM or if any process of the group survives."""
    pgid = process.pid  # start_new_session: the child leads its own group
    _signal_group(pgid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
        stopped_by_sigterm = True
    except subprocess.TimeoutExpired:
        stopped_by_sigterm = False
    stragglers = _wait_until_empty(pgid, 15)
    if stragglers:
        print(f"SIGKILL to processes left after SIGTERM: {stragglers}")
        _signal_group(pgid, signal.SIGKILL)
    process.wait(timeout=30)
    left = _wait_until_empty(pgid, 15)
    assert not left, f"processes of `dagster dev` still alive after SIGKILL: {left}"
    assert stopped_by_sigterm, "`dagster dev` ignored SIGTERM (killed with SIGKILL)"


def _wait_for_code_location(dev: DagsterDev) -> None:
    """Until the webserver answers and the code location `eth_assets` has loaded."""
    deadline = time.monotonic() + STARTUP_SECONDS
    query = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
        name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    while True:
        assert dev.process.poll() is None, f"`dagster dev` exited:\n{dev.log_tail()}"
        assert time.monotonic() < deadline, f"not ready in {STARTUP_SECONDS} s:\n{dev.log_tail()}"
        try:
            if requests.get(f"{dev.url}/server_info", timeout=5).ok:
                workspace = dev.graphql(query)["workspaceOrError"]
                entries = {e["name"]: e for e in workspace.get("locationEntries", [])}
                entry = entries.get(LOCATION)
                if entry and entry["loadStatus"] == "LOADED":
                    loaded = entry["locationOrLoadError"]
                    assert loaded["__typename"] == "RepositoryLocation", loaded
                    return
        except requests.ConnectionError:
            pass
        time.sleep(1)


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    """`dagster dev -w workspace.yaml` (webserver and daemon) from the repository root, with its
    own instance and data folder; every process it started is stopped afterwards."""
    assert DAGSTER is not None
    root = tmp_path_factory.mktemp("dagster_dev")
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ETH_ASSETS_") and key not in {"DAGSTER_HOME", "MLFLOW_TRACKING_URI"}
    }
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "ETH_ASSETS_DATA_DIR": str(root / "data"),
            "ETH_ASSETS_SHARED_DATA": str(root / "no-shared-data"),
            **SIMULATED_CHAIN,
        }
    )
    port = _free_port()
    log = root / "dagster_dev.log"
    command = [DAGSTER, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_signal_handling,
        )
    dev = DagsterDev(process, f"http://127.0.0.1:{port}", log, root / "data")
    try:
        started = time.monotonic()
        _wait_for_code_location(dev)
        print(f"dagster dev ready in {time.monotonic() - started:.1f} s")
        yield dev
    finally:
        _stop(process)


def _key(path: list[str]) -> str:
    return "/".join(path)


def _upstream_closure(dev: DagsterDev, leaves: tuple[str, ...]) -> list[str]:
    """The leaves and every asset upstream of them, from the code location's asset graph."""
    nodes = dev.graphql("{ assetNodes { assetKey { path } dependencyKeys { path } } }")
    parents = {
        _key(n["assetKey"]["path"]): [_key(d["path"]) for d in n["dependencyKeys"]]
        for n in nodes["assetNodes"]
    }
    selected: set[str] = set()
    pending = list(leaves)
    while pending:
        key = pending.pop()
        if key not in selected:
            selected.add(key)
            pending.extend(parents[key])
    return sorted(selected)


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PipelineNotFoundError { message }
    ... on InvalidOutputError { stepKey }
  }
}"""


def _launch(
    dev: DagsterDev,
    job: str,
    assets: list[str],
    tags: dict[str, str],
    run_config: dict[str, Any] | None = None,
) -> str:
    """Launch (through the run queue) a run of `assets` in `job`; its run id."""
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "jobName": job,
            "assetSelection": [{"path": [key]} for key in assets],
        },
        "runConfigData": run_config or {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    launched = dev.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


RUN_LOGS = """
query Logs($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events {
        __typename
        ... on MessageEvent { message level stepKey }
        ... on ErrorEvent { error { message stack } }
      }
    }
  }
}"""


def _run_events(dev: DagsterDev, run_id: str) -> list[dict[str, Any]]:
    """Every event of a run."""
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = dev.graphql(RUN_LOGS, {"runId": run_id, "cursor": cursor})["logsForRun"]
        assert page["__typename"] == "EventConnection", page
        events += page["events"]
        if not page["hasMore"]:
            return events
        cursor = page["cursor"]


def _error_report(dev: DagsterDev, run_id: str) -> str:
    """The run's error events, readable: step, message and the end of each stack."""
    lines = []
    for event in _run_events(dev, run_id):
        error = event.get("error")
        if event.get("level") == "ERROR" or error:
            lines.append(f"[{event['__typename']} {event.get('stepKey') or ''}] {event['message']}")
            if error:
                lines.append(error["message"] + "".join(error["stack"][-5:]))
    return "\n".join(lines)


RUN_STATUS = """
query Status($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status startTime endTime }
    ... on PythonError { message }
  }
}"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def _wait_for_runs(dev: DagsterDev, run_ids: list[str], seconds: float) -> dict[str, dict]:
    """Poll until every run has finished; fail with the error events of any that did not
    succeed. Each run's status, start and end time."""
    deadline = time.monotonic() + seconds
    while True:
        runs = {
            run_id: dev.graphql(RUN_STATUS, {"runId": run_id})["runOrError"] for run_id in run_ids
        }
        if all(run.get("status") in FINISHED for run in runs.values()):
            break
        assert dev.process.poll() is None, f"`dagster dev` exited:\n{dev.log_tail()}"
        assert time.monotonic() < deadline, f"runs not finished in {seconds} s: {runs}"
        time.sleep(1)
    failed = {run_id: run for run_id, run in runs.items() if run["status"] != "SUCCESS"}
    if failed:
        reports = "\n\n".join(
            f"run {run_id} {run['status']}:\n{_error_report(dev, run_id)}"
            for run_id, run in failed.items()
        )
        print(reports)
        pytest.fail(f"runs did not succeed:\n{reports}\n\ndagster dev output:\n{dev.log_tail()}")
    return runs


RUN_MATERIALIZATIONS = """
query Materialized($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run { assetMaterializations { assetKey { path } partition } }
  }
}"""


def _materialized(dev: DagsterDev, run_id: str) -> dict[str, set[str | None]]:
    """Asset → partitions a run materialized (None for an unpartitioned asset)."""
    run = dev.graphql(RUN_MATERIALIZATIONS, {"runId": run_id})["runOrError"]
    found: dict[str, set[str | None]] = {}
    for event in run["assetMaterializations"]:
        found.setdefault(_key(event["assetKey"]["path"]), set()).add(event["partition"])
    return found


LATEST_MATERIALIZATION = """
query Latest($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries {
          label
          ... on IntMetadataEntry { intValue }
          ... on PathMetadataEntry { path }
          ... on TextMetadataEntry { text }
        }
      }
    }
  }
}"""
CHECK_EXECUTIONS = """
query Checks($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 1) {
    runId status evaluation { success }
  }
}"""


def test_quickstart_graph_materializes_through_graphql(dagster_dev: DagsterDev) -> None:
    """The Quickstart's selection over 20 simulated days, launched as the UI launches it: the run
    succeeds, materializes exactly that selection, the scores carry their metadata and snapshot,
    and the two blocking checks passed."""
    dev = dagster_dev
    selection = _upstream_closure(dev, QUICKSTART_LEAVES)
    assert {"raw_transactions", "illicit_labels", "clean_features", "training_set"} <= set(
        selection
    )
    assert "published_benchmark" not in selection
    started = time.monotonic()
    run_id = _launch(
        dev,
        ASSET_JOB,
        selection,
        {
            "dagster/asset_partition_range_start": FIRST_DAY,
            "dagster/asset_partition_range_end": LAST_DAY,
        },
        SMALL_MODELS,
    )
    _wait_for_runs(dev, [run_id], GRAPH_RUN_SECONDS)
    print(f"the Quickstart's graph ran in {time.monotonic() - started:.1f} s")

    materialized = _materialized(dev, run_id)
    assert sorted(materialized) == selection
    days = {(date(2021, 1, 1) + timedelta(days=i)).isoformat() for i in range(20)}
    assert materialized["raw_transactions"] == days
    assert materialized["address_scores"] == {None}

    latest = dev.graphql(LATEST_MATERIALIZATION, {"key": {"path": ["address_scores"]}})
    (scores,) = latest["assetOrError"]["assetMaterializations"]
    assert scores["runId"] == run_id
    metadata = {entry["label"]: entry for entry in scores["metadataEntries"]}
    assert metadata["dagster/row_count"]["intValue"] > 0
    snapshot = Path(metadata["snapshot"]["path"])
    assert snapshot.is_file()
    assert snapshot.is_relative_to(dev.data_dir)

    for asset, check in [
        ("clean_features", "clean_features_complete"),
        ("illicit_classifier", "illicit_classifier_champion_gate"),
    ]:
        answer = dev.graphql(CHECK_EXECUTIONS, {"key": {"path": [asset]}, "check": check})
        (execution,) = answer["assetCheckExecutions"]
        assert execution["runId"] == run_id, check
        assert execution["status"] == "SUCCEEDED", (check, execution)
        assert execution["evaluation"]["success"] is True, (check, execution)


SCHEDULE = """
query Schedule($selector: ScheduleSelector!, $at: Int!) {
  scheduleOrError(scheduleSelector: $selector) {
    __typename
    ... on Schedule {
      cronSchedule executionTimezone
      scheduleState { id status nextTick { timestamp } }
      futureTicks(limit: 3) { results { timestamp } }
      futureTick(tickTimestamp: $at) {
        evaluationResult {
          skipReason error { message }
          runRequests { jobName tags { key value } }
        }
      }
    }
  }
}"""
START_SCHEDULE = """
mutation Start($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}"""
STOP_SCHEDULE = """
mutation Stop($id: String!) {
  stopRunningSchedule(id: $id) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}"""
NIGHTLY = {
    "repositoryLocationName": LOCATION,
    "repositoryName": REPOSITORY,
    "scheduleName": "nightly_refresh",
}
# The tick after the simulated chain's last day: 2021-01-21 02:15 UTC.
TICK_AFTER_LAST_DAY = int(datetime(2021, 1, 21, 2, 15, tzinfo=UTC).timestamp())


def _schedule(dev: DagsterDev) -> dict[str, Any]:
    answer = dev.graphql(SCHEDULE, {"selector": NIGHTLY, "at": TICK_AFTER_LAST_DAY})
    assert answer["scheduleOrError"]["__typename"] == "Schedule", answer
    return answer["scheduleOrError"]


def _nightly_run_tags(dev: DagsterDev) -> dict[str, str]:
    """The tags of the run `nightly_refresh` requests at 2021-01-21 02:15 UTC."""
    evaluation = _schedule(dev)["futureTick"]["evaluationResult"]
    assert evaluation["error"] is None, evaluation["error"]
    (request,) = evaluation["runRequests"]
    assert request["jobName"] in (None, "refresh"), request
    return {tag["key"]: tag["value"] for tag in request["tags"]}


def test_nightly_schedule_turns_on_with_its_next_tick_at_0215_utc(dagster_dev: DagsterDev) -> None:
    """Off by default; once started its next ticks are at 02:15 UTC, each the next day's, and a
    tick asks for yesterday's partition; then it is turned off again."""
    dev = dagster_dev
    before = _schedule(dev)
    assert before["scheduleState"]["status"] == "STOPPED"
    assert before["cronSchedule"] == "15 2 * * *"

    started = dev.graphql(START_SCHEDULE, {"selector": NIGHTLY})["startSchedule"]
    assert started["__typename"] == "ScheduleStateResult", started
    assert started["scheduleState"]["status"] == "RUNNING"
    try:
        running = _schedule(dev)
        assert running["scheduleState"]["status"] == "RUNNING"
        ticks = [
            datetime.fromtimestamp(t["timestamp"], UTC) for t in running["futureTicks"]["results"]
        ]
        next_tick = datetime.fromtimestamp(running["scheduleState"]["nextTick"]["timestamp"], UTC)
        assert next_tick == ticks[0]
        now = datetime.now(UTC)
        assert now < next_tick <= now + timedelta(days=1)
        assert [(t.hour, t.minute, t.second) for t in ticks] == [(2, 15, 0)] * 3
        assert [later - earlier for earlier, later in itertools.pairwise(ticks)] == [
            timedelta(days=1)
        ] * 2
        assert _nightly_run_tags(dev)["dagster/partition"] == LAST_DAY
    finally:
        stop_id = _schedule(dev)["scheduleState"]["id"]
        stopped = dev.graphql(STOP_SCHEDULE, {"id": stop_id})["stopRunningSchedule"]
    assert stopped["__typename"] == "ScheduleStateResult", stopped
    assert stopped["scheduleState"]["status"] == "STOPPED"


def test_scheduled_and_manual_runs_succeed_side_by_side(dagster_dev: DagsterDev) -> None:
    """The nightly run of the last day (its tags as the schedule asks for them) and a person's
    run of the last three days, queued together: both run at the same time and succeed, with
    no SQLite or DuckDB lock error anywhere."""
    dev = dagster_dev
    nightly_tags = {**_nightly_run_tags(dev), "dagster/schedule_name": "nightly_refresh"}
    scheduled = _launch(dev, "refresh", RAW_TO_FEATURES, nightly_tags)
    manual = _launch(
        dev,
        ASSET_JOB,
        RAW_TO_FEATURES,
        {
            "dagster/asset_partition_range_start": "2021-01-18",
            "dagster/asset_partition_range_end": LAST_DAY,
        },
    )
    started = time.monotonic()
    runs = _wait_for_runs(dev, [scheduled, manual], SMALL_RUN_SECONDS)
    print(f"the two concurrent runs finished in {time.monotonic() - started:.1f} s")

    first, second = runs[scheduled], runs[manual]
    assert first["startTime"] < second["endTime"] and second["startTime"] < first["endTime"], (
        f"the runs did not overlap: {runs}"
    )
    assert _materialized(dev, scheduled)["raw_transactions"] == {LAST_DAY}
    assert _materialized(dev, manual)["raw_transactions"] == {
        "2021-01-18",
        "2021-01-19",
        LAST_DAY,
    }
    for run_id in (scheduled, manual):
        assert set(_materialized(dev, run_id)) == set(RAW_TO_FEATURES)
        messages = "\n".join(
            f"{e.get('message', '')} {(e.get('error') or {}).get('message', '')}"
            for e in _run_events(dev, run_id)
        ).lower()
        assert not [m for m in LOCK_ERRORS if m in messages], _error_report(dev, run_id)
    output = dev.log.read_text(errors="replace").lower()
    assert not [m for m in LOCK_ERRORS if m in output], dev.log_tail()
