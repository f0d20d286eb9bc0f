"""Shared pytest fixtures: the real-data folder, the whole resource set under tmp_path, and a
data folder of its own for every test (no test writes to ./data)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from eth_assets.resources.chain_sources import ChainSource, ParquetChainSource
from eth_assets.resources.lake import ParquetLake
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import DuckDBWarehouse
from eth_assets.settings import DATA_DIR_ENV, MLFLOW_TRACKING_URI_ENV, SHARED_DATA_ENV
from eth_assets_tests.fixtures import write_bigquery_schema_folder

# The checkout is /work/main, so the shared folder beside it is /work/shared/data.
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _runtime_output_outside_the_checkout(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever falls back to the default data folder (or MLflow store) writes to a temporary
    folder, never to ./data."""
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv(MLFLOW_TRACKING_URI_ENV, raising=False)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder ($ETH_ASSETS_SHARED_DATA or ../shared/data); skips tests without it."""
    folder = Path(os.environ.get(SHARED_DATA_ENV) or DEFAULT_SHARED_DATA)
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} not found (set {SHARED_DATA_ENV} to point at it)")
    return folder


ResourceFactory = Callable[..., dict[str, object]]


@pytest.fixture
def make_resources(tmp_path: Path) -> ResourceFactory:
    """`make_resources(source=None, **entries)`: every resource the assets use, under tmp_path.

    chain_source is `source`, or a Parquet source over the hand-built folder
    (fixtures.write_bigquery_schema_folder, written to tmp_path/source); lake is tmp_path/lake,
    warehouse tmp_path/warehouse.duckdb, tracker an MLflow SQLite store under tmp_path/mlflow and
    models tmp_path/models. Keyword arguments replace or add entries by key.
    """

    def make(source: ChainSource | None = None, **entries: object) -> dict[str, object]:
        if source is None:
            folder = write_bigquery_schema_folder(tmp_path / "source")
            source = ParquetChainSource(folder=str(folder))
        return {
            "chain_source": source,
            "lake": ParquetLake(root=str(tmp_path / "lake")),
            "warehouse": DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb")),
            "tracker": MlflowTracker(
                tracking_uri=f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}",
                artifact_root=str(tmp_path / "mlflow" / "artifacts"),
            ),
            "models": ModelStore(root=str(tmp_path / "models")),
            **entries,
        }

    return make


@pytest.fixture
def resources(make_resources: ResourceFactory) -> dict[str, object]:
    """The default resource set of `make_resources`: the hand-built Parquet folder as source."""
    return make_resources()
