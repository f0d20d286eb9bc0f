"""A `dagster asset materialize` killed with SIGKILL as soon as its days are in the lake, before
Dagster has recorded (all of) their events: the next features run still takes the lake's last
day as its cut-off, instead of cutting off at what the event record says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster import AssetKey, DagsterInstance, materialize

from eth_assets.features.feature_assets import address_features, address_universe
from eth_assets.labels.label_assets import illicit_labels
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets_tests.fixtures import resource_set, write_bigquery_schema_folder

LAST_DAY = "2020-01-03"


def test_a_run_killed_while_recording_does_not_cut_the_next_run_short(tmp_path: Path) -> None:
    source = write_bigquery_schema_folder(tmp_path / "source")
    (tmp_path / "home").mkdir()
    lake = tmp_path / "data" / "lake"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ETH_ASSETS_")},
        "DAGSTER_HOME": str(tmp_path / "home"),
        "ETH_ASSETS_DATA_DIR": str(tmp_path / "data"),
        "ETH_ASSETS_SOURCE": "parquet",
        "ETH_ASSETS_PARQUET_DIR": str(source),
    }
    command = [
        sys.executable, "-m", "dagster", "asset", "materialize", "-m", "eth_assets.definitions",
        "--select", "raw_transactions", "--partition-range", f"2020-01-01...{LAST_DAY}",
    ]  # fmt: skip
    run = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    last = lake / "transactions" / f"block_date={LAST_DAY}" / "part.parquet"
    deadline = time.monotonic() + 180
    while not last.exists() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.005)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert last.exists(), "the run did not write its last day before it was killed"

    instance = DagsterInstance.from_config(str(tmp_path / "home"))
    recorded = instance.get_materialized_partitions(AssetKey("raw_transactions"))
    assert LAST_DAY not in recorded, "killed too late to show anything: the record was complete"

    labels = tmp_path / "darklist.json"
    labels.write_text("[]")
    resources = resource_set(tmp_path / "data", ParquetChainSource(folder=str(source)))
    result = materialize(
        [illicit_labels, address_universe, address_features],
        resources=resources,
        instance=instance,
        run_config={
            "ops": {
                "illicit_labels": {"config": {"files": [str(labels)], "allow_fewer_labels": True}}
            }
        },
    )
    assert result.success
    metadata = result.asset_materializations_for_node("address_features")[0].metadata
    assert metadata["as_of"].value == "2020-01-04T00:00:00+00:00"
