"""The README's commands: their selections parse, and two subprocess runs of their shape."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
from dagster import AssetKey, AssetSelection

from eth_assets_tests.fixtures import BOB, write_bigquery_schema_folder

README = Path(__file__).resolve().parents[1] / "README.md"


# The Quickstart's selection: the leaves of the graph and everything upstream of them.
QUICKSTART_SELECTION = "*address_scores,*tsne_embedding,*model_comparison"


def _readme_materialize_commands() -> list[list[str]]:
    """Every `dagster asset materialize` command in the README's code blocks, as arguments."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    commands = []
    for line in "\n".join(blocks).splitlines():
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if words[:3] == ["dagster", "asset", "materialize"]:
                commands.append(words)
    return commands


def test_readme_materialize_commands_select_real_assets_and_days() -> None:
    """Each command's --select parses as the CLI parses it (comma-separated) and names assets of
    the code location; a --partition-range is two ISO days; --config-json is JSON whose ops are
    selected assets."""
    from eth_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    commands = _readme_materialize_commands()
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


def _run(command: list[str], env: dict[str, str], cwd: Path) -> None:
    """Run a CLI command to completion; fail with the end of its stderr."""
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


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


def test_zero_config_default_runs_the_whole_graph_on_the_simulated_chain(tmp_path: Path) -> None:
    """The README's first command (every asset but the published benchmark), on a small
    simulated chain and with no shared data folder."""
    (tmp_path / "home").mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ETH_ASSETS_") and key != "DAGSTER_HOME"
    }
    env.update(
        {
            "DAGSTER_HOME": str(tmp_path / "home"),
            "ETH_ASSETS_DATA_DIR": str(tmp_path / "data"),
            "ETH_ASSETS_SHARED_DATA": str(tmp_path / "no-shared-data"),
            "ETH_ASSETS_SIM_ACCOUNTS": "300",
            "ETH_ASSETS_SIM_DAYS": "10",
        }
    )
    command = [
        sys.executable, "-m", "dagster", "asset", "materialize",
        "-m", "eth_assets.definitions", "--select", QUICKSTART_SELECTION,
        "--partition-range", "2021-01-01...2021-01-10",
    ]  # fmt: skip
    _run(command, env, tmp_path)
    warehouse = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    universe = warehouse.execute("SELECT count(*) FROM address_universe").fetchall()[0][0]
    features = warehouse.execute("SELECT count(*), sum(sent_tnx) FROM address_features").fetchall()
    profiled = warehouse.execute(
        "SELECT count(*) FROM investor_profile_assignments JOIN clean_features USING (address)"
    ).fetchall()[0][0]
    assert universe >= 300
    assert features[0][0] == universe and features[0][1] > 0
    assert profiled == universe
