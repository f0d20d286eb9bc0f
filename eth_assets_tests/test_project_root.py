"""The default data folder is the project root's `data/`, whichever subfolder a command starts in:
a run from a subfolder never makes a second lake there."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from eth_assets import settings
from eth_assets.lake.raw_assets import raw_transactions
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets.resources.simulated_source import SimulatedChainSource

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Dagster project folder (workspace.yaml, pyproject.toml) with a `notebooks/` subfolder,
    and no data dir in the environment."""
    root = tmp_path / "project"
    (root / "notebooks" / "deeper").mkdir(parents=True)
    (root / "workspace.yaml").write_text("load_from: []\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.delenv(settings.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(settings.SHARED_DATA_ENV, raising=False)
    return root


def test_a_subfolder_of_a_project_uses_the_projects_data(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "notebooks" / "deeper")
    assert settings.data_dir() == project.resolve() / "data"
    assert settings.shared_data_dir() == project.resolve().parent / "shared" / "data"
    monkeypatch.chdir(project)
    assert settings.data_dir() == project.resolve() / "data"


def test_a_subfolder_of_the_checkout_uses_the_checkouts_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(settings.DATA_DIR_ENV, raising=False)
    monkeypatch.chdir(CHECKOUT / "eth_assets_tests" / "resources")
    assert settings.package_checkout() == CHECKOUT
    assert settings.data_dir() == CHECKOUT / "data"
    assert ParquetLake().root_path() == CHECKOUT / "data" / "lake"


def test_outside_any_project_the_current_folder_and_the_variable_still_decide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.DATA_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert settings.data_dir() == tmp_path.resolve() / "data"
    monkeypatch.setenv(settings.DATA_DIR_ENV, "elsewhere")
    assert settings.data_dir() == tmp_path.resolve() / "elsewhere"


def test_a_simulated_run_from_a_subfolder_writes_the_projects_lake(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subfolder = project / "notebooks"
    monkeypatch.chdir(subfolder)
    source = SimulatedChainSource(n_accounts=200, start_date="2021-01-01", days=2)
    result = materialize(
        [raw_transactions],
        resources={"chain_source": source, "lake": ParquetLake()},
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2021-01-01",
            "dagster/asset_partition_range_end": "2021-01-02",
        },
    )
    assert result.success
    assert sorted(p.name for p in (project / "data" / "lake" / "transactions").iterdir()) == [
        "block_date=2021-01-01",
        "block_date=2021-01-02",
    ]
    assert not (subfolder / "data").exists()
