"""The README's command blocks run as written: each block is either run here (in a temporary
folder, after the session's Quickstart run on a small simulated chain) or listed with the reason
it cannot run in a test and where its shape is covered. A new block that is in neither list fails
the test. The blocks that start servers or the CLI are end-to-end (`e2e`)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest
import requests
from dagster import AssetSelection

from eth_assets_tests.fixtures import QuickstartRun
from eth_assets_tests.fixtures.graph import repoint_mlflow_store
from eth_assets_tests.fixtures.quickstart import ROOT, option, quickstart_command, readme_blocks

BIN = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin"

# Blocks not run here, by their first words, with why and what covers their shape.
NOT_RUN = {
    "python3.11 -m venv .venv": "installs the project: CI runs it itself; its materialization "
    "runs once per session on a small simulated chain (conftest's `quickstart`), which "
    "test_cli's zero-config test and the blocks run here read",
    'export ETH_ASSETS_DATA_DIR="$PWD/data/real" ETH_ASSETS_SOURCE=parquet': "the real sample "
    "through the scores in its own data dir (about 8 min): run as written after the Quickstart by "
    "test_newcomer_path's e2e test",
    "dagster asset materialize -m eth_assets.definitions --select elbow_analysis": "the real "
    "sample's analysis and model comparison after the block above; the Quickstart runs the same "
    "assets on the simulated chain",
    "python -m pytest": "this test suite itself: the whole suite, then the fast tier "
    "(-m 'not e2e')",
    'export DAGSTER_HOME="$PWD/.dagster_home" && dagster dev': "test_dagster_dev starts the "
    "same command on a free port and drives it through GraphQL",
    "export ETH_ASSETS_SOURCE=parquet ETH_ASSETS_PARQUET_DIR=/path/to/my/export": "names a "
    "folder of the reader's; test_cli runs the same command over a hand-built folder",
    "export ETH_ASSETS_SOURCE=bigquery": "needs Google credentials; the BigQuery tests fake the "
    "client",
    "export ETH_ASSETS_SOURCE=parquet ETH_ASSETS_PARQUET_DIR=/path/to/other/export": "names "
    "folders of the reader's; the same settings are exercised by the feature asset tests",
    'export DAGSTER_HOME="$PWD/.dagster_home" && dagster job execute': "the same assets as the "
    "Quickstart's run in one run: test_full_refresh_block_launches_the_quickstart_assets checks "
    "its job, tags and selection",
}
# Blocks run here, by their first words.
RUN = (
    "eth-assets serve",
    "mlflow ui",
    'export DAGSTER_HOME="$PWD/.dagster_home" && dagster asset materialize -m '
    "eth_assets.definitions --select investor_profiles",
)


def _block(prefix: str) -> str:
    found = [b for b in readme_blocks() if b.startswith(prefix)]
    assert len(found) == 1, f"{len(found)} README blocks start with {prefix!r}"
    return found[0]


def test_every_readme_block_is_run_or_listed_with_a_reason() -> None:
    unlisted = [
        block.splitlines()[0]
        for block in readme_blocks()
        if not any(block.startswith(p) for p in (*NOT_RUN, *RUN))
    ]
    assert not unlisted, f"README blocks neither run nor listed here: {unlisted}"
    for prefix in (*NOT_RUN, *RUN):
        _block(prefix)


def _home(folder: Path) -> None:
    """The `.dagster_home` the README's commands export, as the repository has it."""
    (folder / ".dagster_home").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".dagster_home" / "dagster.yaml", folder / ".dagster_home")


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETH_ASSETS_", "MLFLOW_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "ETH_ASSETS_DATA_DIR": str(data), **extra}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve_and_probe(command: str, cwd: Path, env: dict[str, str], url: str) -> str:
    """Start a server block in its own process group, return the first 200 answer of `url`,
    then stop the whole group."""
    server = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise AssertionError(f"{command!r} exited: {server.stderr.read()[-2000:]}")
            try:
                answer = requests.get(url, timeout=2)
                if answer.status_code == 200:
                    return answer.text
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{command!r} did not answer {url} within 90 s")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def data(quickstart: QuickstartRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Quickstart run's data dir, laid out as the defaults expect."""
    copy = tmp_path_factory.mktemp("readme") / "data"
    shutil.copytree(quickstart.data, copy)
    # the copied MLflow store names the Quickstart's artifact folder: point it at the copy's, so
    # runs of these tests never write into the shared (read-only) Quickstart data
    repoint_mlflow_store(copy / "mlflow" / "mlflow.db", quickstart.data, copy)
    return copy


def test_full_refresh_block_launches_the_quickstart_assets() -> None:
    """The block's job exists and selects what the Quickstart's --select does, over the range
    its two tags give."""
    from eth_assets.definitions import defs

    block = _block('export DAGSTER_HOME="$PWD/.dagster_home" && dagster job execute')
    words = shlex.split(block.split("&&")[-1])
    assert words[:3] == ["dagster", "job", "execute"]
    assert option(words, "-m") == "eth_assets.definitions"
    job = defs.resolve_job_def(option(words, "-j"))
    tags = json.loads(option(words, "--tags"))
    first = date.fromisoformat(tags["dagster/asset_partition_range_start"])
    last = date.fromisoformat(tags["dagster/asset_partition_range_end"])
    assert first <= last
    graph = defs.resolve_asset_graph()
    quickstart = AssetSelection.from_coercible(option(quickstart_command(), "--select").split(","))
    assert job.asset_layer.selected_asset_keys == quickstart.resolve(graph)


@pytest.mark.e2e
def test_eth_assets_serve_serves_the_published_scores(data: Path) -> None:
    port = _free_port()
    command = f"{_block('eth-assets serve')} --port {port}"
    health = _serve_and_probe(command, data.parent, _env(data), f"http://127.0.0.1:{port}/healthz")
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as warehouse:
        universe = warehouse.execute("SELECT count(*) FROM address_universe").fetchall()[0][0]
    assert f'"scored_addresses":{universe}' in health.replace(" ", "")


@pytest.mark.e2e
def test_mlflow_ui_lists_the_experiments(data: Path) -> None:
    port = _free_port()
    command = _block("mlflow ui").replace("--port 5000", f"--port {port}")
    assert f"--port {port}" in command
    answer = _serve_and_probe(
        command,
        data.parent,  # the block's $PWD/data is the copy
        _env(data),
        f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search?max_results=50",
    )
    assert "eth_assets/illicit_classifier" in answer and "eth_assets/investor_profiles" in answer


@pytest.mark.e2e
def test_investor_profiles_on_the_app_features_runs_as_written(data: Path) -> None:
    block = _block(RUN[2])
    _home(data.parent)
    done = subprocess.run(
        ["bash", "-c", block],
        cwd=data.parent,
        env=_env(data),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stderr
