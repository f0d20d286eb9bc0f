"""The newcomer's path as the README writes it: after the Quickstart, a run from another source
in the same data dir is refused before any step writes and leaves every file of that data dir
byte-identical; and the README's real-sample commands, run after the Quickstart, succeed."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from eth_assets.scores.snapshot import read_current
from eth_assets_tests.fixtures import QuickstartRun
from eth_assets_tests.fixtures.quickstart import (
    RealSampleRun,
    reader_env,
    readme_blocks,
    tree_hashes,
)
from eth_assets_tests.fixtures.raw_tables import write_bigquery_schema_folder


def test_another_source_in_the_quickstart_data_dir_is_refused_and_changes_nothing(
    quickstart: QuickstartRun, tmp_path: Path
) -> None:
    folder = tmp_path / "checkout"
    shutil.copytree(quickstart.folder, folder)
    data = folder / "data"
    before = tree_hashes(data)
    assert any(p.startswith("lake/") for p in before) and "warehouse.duckdb" in before
    assert any(p.startswith("mlflow/") for p in before) and any(
        p.startswith("models/") for p in before
    )
    labels = folder / "labels.csv"
    labels.write_text("address\n0x" + "a1" * 20 + "\n")
    # The Quickstart's selection, from a Parquet folder, in the Quickstart's data dir.
    words = quickstart.command[quickstart.command.index("dagster") :]
    env = reader_env(
        folder / ".dagster_home",
        ETH_ASSETS_DATA_DIR=str(data),
        ETH_ASSETS_SOURCE="parquet",
        ETH_ASSETS_PARQUET_DIR=str(write_bigquery_schema_folder(tmp_path / "export")),
        ETH_ASSETS_LABEL_FILES=str(labels),
        ETH_ASSETS_SHARED_DATA=str(folder / "no-shared-data"),
    )
    done = subprocess.run(
        [sys.executable, "-m", *words],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    for step in ("raw_transactions", "raw_token_transfers", "illicit_labels"):
        assert f"{step}: this run's source is parquet:" in output, output[-3000:]
    assert "Nothing was changed" in output
    assert tree_hashes(data) == before
    # Our own asset decorators' beta parameters print nothing on the command line.
    assert "BetaWarning" not in output and "PreviewWarning" not in output


@pytest.mark.e2e
def test_the_readme_real_sample_path_after_the_quickstart_succeeds(
    quickstart: QuickstartRun, real_sample_run: RealSampleRun
) -> None:
    """The block as written, in the Quickstart's checkout and shell (its DAGSTER_HOME), on the
    real sample: it writes its own data dir, whose MLflow store the README's `mlflow ui` block
    opens, and leaves the Quickstart's data as it was."""
    [mlflow_block] = [b for b in readme_blocks() if b.startswith("mlflow ui")]
    folder = real_sample_run.folder
    assert "RUN_SUCCESS" in real_sample_run.stderr
    print(f"real-sample block: {real_sample_run.seconds:.0f} s")
    real = folder / "data" / "real"
    assert (real / "published" / "address_scores" / "current.json").is_file()
    after = {k: v for k, v in tree_hashes(folder / "data").items() if not k.startswith("real/")}
    assert after == real_sample_run.before
    # The MLflow UI block, in the same shell, names the real data dir's store.
    store = mlflow_block.replace("$ETH_ASSETS_DATA_DIR", str(real)).replace(
        "${ETH_ASSETS_DATA_DIR:-$PWD/data}", str(real)
    )
    assert f"sqlite:///{real}/mlflow/mlflow.db" in store
    with sqlite3.connect(real / "mlflow" / "mlflow.db") as con:
        experiments = {r[0] for r in con.execute("SELECT name FROM experiments")}
    assert "eth_assets/illicit_classifier" in experiments


def test_real_sample_scores_are_rarely_exactly_0_or_1(real_sample_run: RealSampleRun) -> None:
    """The calibrated probabilities of the real sample's snapshot sit strictly inside (0, 1)
    for at least 99 % of the scored addresses, and isotonic-style plateaus are rare."""
    scores, _ = read_current(
        real_sample_run.folder / "data" / "real" / "published" / "address_scores"
    )
    scored = scores.filter(pl.col("has_activity"))
    extremes = scored.filter(pl.col("probability").is_in([0.0, 1.0])).height
    print(f"{extremes} of {scored.height} at exactly 0 or 1")
    assert scored.height > 3000
    assert extremes < 0.01 * scored.height
    assert scored["probability"].n_unique() > 0.5 * scored.height
