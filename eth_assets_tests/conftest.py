"""Shared pytest fixtures: the real-data folder, the whole resource set under tmp_path, a data
folder of its own for every test (no test writes to ./data), the materialized graph (read-only;
`graph_copy` for a test that changes it) and the Quickstart's CLI run (once per session)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eth_assets.resources.chain_sources import ChainSource
from eth_assets.settings import DATA_DIR_ENV, MLFLOW_TRACKING_URI_ENV, SHARED_DATA_ENV
from eth_assets_tests.fixtures import (
    Graph,
    QuickstartRun,
    build_graph,
    copy_graph,
    resource_set,
)
from eth_assets_tests.fixtures.background import BackgroundRuns
from eth_assets_tests.fixtures.quickstart import RealSampleRun

# A test that needs a whole materialized graph (in process or the Quickstart's CLI run) is an
# end-to-end test: it runs in the e2e tier, never in the fast one.
WHOLE_GRAPH_FIXTURES = frozenset({"graph", "graph_copy", "quickstart", "real_sample_run"})


def pytest_configure(config: pytest.Config) -> None:
    """Import anyio's lazily loaded parts now, in the main thread. anyio is a pytest plugin, so
    pytest rewrites its modules on import; imported first from a test client's thread, that
    rewrite can meet another thread's parse, and CPython 3.11.7's AST converter (whose depth
    counter is shared between threads) then fails with "AST constructor recursion depth
    mismatch" (seen in CI on `anyio.open_file` serving /docs's static files)."""
    import anyio

    for name in dir(anyio):
        getattr(anyio, name)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a whole-graph fixture `e2e`, so the marker cannot be forgotten."""
    for item in items:
        if WHOLE_GRAPH_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


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


def shared_data_folder() -> Path:
    """The real-data folder: $ETH_ASSETS_SHARED_DATA or ../shared/data."""
    return Path(os.environ.get(SHARED_DATA_ENV) or DEFAULT_SHARED_DATA)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder ($ETH_ASSETS_SHARED_DATA or ../shared/data); skips tests without it."""
    folder = shared_data_folder()
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} not found (set {SHARED_DATA_ENV} to point at it)")
    return folder


ResourceFactory = Callable[..., dict[str, object]]


@pytest.fixture
def make_resources(tmp_path: Path) -> ResourceFactory:
    """`make_resources(source=None, **entries)`: fixtures.resource_set under tmp_path."""

    def make(source: ChainSource | None = None, **entries: object) -> dict[str, object]:
        return resource_set(tmp_path, source, **entries)

    return make


@pytest.fixture
def resources(make_resources: ResourceFactory) -> dict[str, object]:
    """The default resource set of `make_resources`: the hand-built Parquet folder as source."""
    return make_resources()


@pytest.fixture(scope="session")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    """The whole graph on a small simulated chain, materialized once per session. Read-only:
    a test that moves the champion alias, adds runs or rewrites tables takes `graph_copy`."""
    return build_graph(tmp_path_factory.mktemp("graph"))


@pytest.fixture
def graph_copy(graph: Graph, tmp_path: Path) -> Graph:
    """A copy of the session graph (folder, MLflow store, resources, a fresh instance) that
    this test alone may change."""
    return copy_graph(graph, tmp_path / "graph")


@pytest.fixture(scope="session", autouse=True)
def _cli_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackgroundRuns | None]:
    """The session's CLI runs, started in the background before the first test when any
    selected test needs them (so their subprocesses overlap the in-process tests)."""
    used = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    if not used & {"quickstart", "real_sample_run"}:
        yield None
        return
    shared = shared_data_folder()
    wants_real = "real_sample_run" in used and shared.is_dir()
    runs = BackgroundRuns(tmp_path_factory.mktemp("cli"), shared if wants_real else None)
    yield runs
    runs.close()


@pytest.fixture(scope="session")
def quickstart(_cli_runs: BackgroundRuns | None) -> QuickstartRun:
    """The README Quickstart's `dagster asset materialize`, run once per session in a
    subprocess on a small simulated chain. Read-only: copy `quickstart.data` to change it."""
    assert _cli_runs is not None, "the session's CLI runs start only for tests that use them"
    return _cli_runs.quickstart()


@pytest.fixture(scope="session")
def real_sample_run(shared_data: Path, _cli_runs: BackgroundRuns | None) -> RealSampleRun:
    """The README's real-sample block run as written after the Quickstart, once per session.
    Read-only: copy its folder to change it."""
    assert _cli_runs is not None, "the session's CLI runs start only for tests that use them"
    return _cli_runs.real_sample()
