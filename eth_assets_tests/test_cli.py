"""The README's commands: their selections parse (fast), and two subprocess runs of their shape
(e2e): raw to features over a hand-built folder, and the Quickstart's run on a simulated chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, AssetSelection

from eth_assets.orchestration.schedules import GRAPH_SELECT_ARGUMENT
from eth_assets_tests.fixtures import (
    BOB,
    QuickstartRun,
    write_bigquery_schema_folder,
)
from eth_assets_tests.fixtures.quickstart import (
    QUICKSTART_ACCOUNTS,
    option,
    quickstart_command,
    readme_materialize_commands,
)


def test_readme_materialize_commands_select_real_assets_and_days() -> None:
    """Each command's --select parses as the CLI parses it (comma-separated) and names assets of
    the code location; a --partition-range is two ISO days; --config-json is JSON whose ops are
    selected assets."""
    from eth_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    commands = readme_materialize_commands()
    assert len(commands) >= 4
    for words in commands:
        options = dict(zip(words[3::2], words[4::2], strict=False))
        assert options["-m"] == "eth_assets.definitions", words
        selected = AssetSelection.from_coercible(options["--select"].split(",")).resolve(graph)
        assert selected, words
        if "--partition-range" in options:
            first, last = options["--partition-range"].split("...")
            assert date.fromisoformat(first) <= date.fromisoformat(last), words
        if "--config-json" in options:
            ops = json.loads(options["--config-json"])["ops"]
            assert {AssetKey(op) for op in ops} <= selected, words


@pytest.mark.e2e
def test_dagster_cli_materializes_raw_to_features_for_a_range(tmp_path: Path) -> None:
    """Everything up to address_features over three hand-built days (the models need more than
    three addresses: the zero-config test below runs them)."""
    source = write_bigquery_schema_folder(tmp_path / "source")
    labels = tmp_path / "darklist.json"
    labels.write_text(
        json.dumps(
            [
                {
                    "address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                    "comment": "x",
                    "date": "",
                },
                {"address": BOB, "comment": "in the data", "date": ""},
                {"address": "0x123", "comment": "too short", "date": ""},
            ]
        )
    )
    (tmp_path / "home").mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "ETH_ASSETS_DATA_DIR": str(tmp_path / "data"),
        "ETH_ASSETS_SOURCE": "parquet",
        "ETH_ASSETS_PARQUET_DIR": str(source),
        "ETH_ASSETS_LABEL_FILES": str(labels),
    }
    command = [
        sys.executable, "-m", "dagster", "asset", "materialize",
        "-m", "eth_assets.definitions", "--select", "*address_features",
        "--partition-range", "2020-01-01...2020-01-03",
    ]  # fmt: skip
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lake = tmp_path / "data" / "lake"
    count = duckdb.sql(f"SELECT count(*) FROM '{lake}/transactions/*/*.parquet'").fetchall()
    assert count == [(4,)]
    labels_rows = duckdb.sql(f"SELECT address FROM '{lake}/illicit_labels.parquet'").fetchall()
    assert sorted(labels_rows) == sorted([("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",), (BOB,)])
    rejected = duckdb.sql(f"SELECT value FROM '{lake}/illicit_labels_rejected.parquet'").fetchall()
    assert rejected == [("0x123",)]


def test_the_quickstart_selects_the_graph_the_jobs_refresh() -> None:
    """The Quickstart's --select is the selection the refresh jobs are defined with."""
    assert option(quickstart_command(), "--select") == GRAPH_SELECT_ARGUMENT


@pytest.mark.e2e
def test_zero_config_default_runs_the_whole_graph_on_the_simulated_chain(
    quickstart: QuickstartRun,
) -> None:
    """The README's first command (every asset but the published benchmark), on a small
    simulated chain and with no shared data folder: the session's shared Quickstart run."""
    path = str(quickstart.data / "warehouse.duckdb")
    with duckdb.connect(path, read_only=True) as warehouse:
        universe = warehouse.execute("SELECT count(*) FROM address_universe").fetchall()[0][0]
        features = warehouse.execute(
            "SELECT count(*), sum(sent_tnx) FROM address_features"
        ).fetchall()
        profiled = warehouse.execute(
            "SELECT count(*) FROM investor_profile_assignments JOIN clean_features USING (address)"
        ).fetchall()[0][0]
    assert universe >= QUICKSTART_ACCOUNTS
    assert features[0][0] == universe and features[0][1] > 0
    assert profiled == universe
    assert (quickstart.data / "published" / "address_scores" / "current.json").is_file()
