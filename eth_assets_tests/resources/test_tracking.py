"""The MLflow tracker under faults: a registry answering 503, a server that refuses or never
answers, an emptied or foreign store file, runs that raise or are interrupted, and what a killed
process left behind (a RUNNING run, a temporary folder). All local: SQLite stores under tmp_path,
and sockets on 127.0.0.1 that answer 503, refuse or stay silent."""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from eth_assets import settings
from eth_assets.common.files import temporary_prefix
from eth_assets.resources.tracking import (
    HOST_TAG,
    PID_TAG,
    STALE_TAG,
    MlflowTracker,
    TrackingStoreError,
    redacted_uri,
)

MODEL = "eth_assets.test_model"
# The longest any faulty store may keep a call waiting: the timeout below plus a wide margin.
BOUND_SECONDS = 20


@pytest.fixture(autouse=True)
def _mlflow_http_variables_restored() -> Iterator[None]:
    """MLflow's HTTP variables as they were before the test (the tracker sets them)."""
    names = (settings.MLFLOW_HTTP_TIMEOUT_ENV, settings.MLFLOW_HTTP_RETRIES_ENV)
    before = {name: os.environ.get(name) for name in names}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    settings._MLFLOW_HTTP_SET_HERE.clear()


def _tracker(folder: Path) -> MlflowTracker:
    return MlflowTracker(
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        artifact_root=str(folder / "artifacts"),
    )


def _bounded(call, seconds: float = BOUND_SECONDS):
    """`call()` in a thread, failing the test when it has not returned within `seconds`."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(call).result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"the call was still waiting after {seconds} s")
    finally:
        pool.shutdown(wait=False)


class _Unavailable(BaseHTTPRequestHandler):
    """Answers every request 503, as a registry behind an overloaded proxy does."""

    def _answer(self) -> None:
        body = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "service unavailable"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unavailable_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering 503 to everything; its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket on 127.0.0.1 that accepts connections and never answers; its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _registered_with_champion(tracker: MlflowTracker, auc: float) -> int:
    """Register one version whose run has cv_roc_auc `auc` and make it champion; its number."""
    client = tracker.client()
    experiment = tracker.experiment_id(client, "illicit_classifier")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "cv_roc_auc", auc)
    client.set_terminated(run.info.run_id)
    client.create_registered_model(MODEL)
    version = client.create_model_version(MODEL, "file:///nowhere", run_id=run.info.run_id)
    client.set_registered_model_alias(MODEL, "champion", version.version)
    return int(version.version)


# "No champion" only when the registry says so.


def test_no_model_no_alias_and_a_champion_are_told_apart(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    assert tracker.version(MODEL, "champion") is None  # a new store: no registered model
    number = _registered_with_champion(tracker, 0.9999)
    champion = tracker.version(MODEL, "champion")
    assert champion is not None
    assert (champion.version, champion.metrics["cv_roc_auc"]) == (number, 0.9999)
    assert tracker.version(MODEL, "challenger") is None  # the model exists, the alias does not
    assert tracker.version(MODEL, str(number + 5)) is None  # no such version
    assert tracker.version(MODEL, str(number)) == champion


def test_a_registry_answering_503_fails_naming_the_store_without_its_password(
    unavailable_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: any MLflow error read as "no champion", and a rejected model became champion."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the user's setting wins
    uri = unavailable_server.replace("http://", "http://alice:s3cret-pw@")
    tracker = MlflowTracker(tracking_uri=uri)
    with pytest.raises(TrackingStoreError) as raised:
        _bounded(lambda: tracker.version(MODEL, "champion"))
    message = str(raised.value)
    assert f"the MLflow store {redacted_uri(uri)} failed" in message
    assert "alice:***@127.0.0.1" in message and "s3cret-pw" not in message
    assert "looking up 'champion'" in message and "503" in message
    with pytest.raises(TrackingStoreError):
        _bounded(lambda: tracker.load_model(MODEL, "champion"))


def test_a_refused_connection_fails_at_once_saying_which_server(tmp_path: Path) -> None:
    """Before: 4 min 15 s of silent retries, then "materialize illicit_classifier first"."""
    uri = f"http://127.0.0.1:{_closed_port()}"
    began = time.monotonic()
    with pytest.raises(TrackingStoreError) as raised:
        _bounded(lambda: MlflowTracker(tracking_uri=uri).version(MODEL, "champion"))
    assert time.monotonic() - began < 5
    message = str(raised.value)
    assert f"cannot reach the MLflow tracking server {uri}" in message
    assert "MLFLOW_TRACKING_URI" in message and "mlflow server" in message
    assert "materialize illicit_classifier" not in message


def test_a_server_that_never_answers_fails_within_the_timeout(
    silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: MLflow's 120 s × 8 attempts, past ten minutes."""
    monkeypatch.setenv("ETH_ASSETS_MLFLOW_TIMEOUT_SECONDS", "1")
    began = time.monotonic()
    with pytest.raises(TrackingStoreError) as raised:
        _bounded(lambda: MlflowTracker(tracking_uri=silent_server).version(MODEL, "champion"))
    assert 1 <= time.monotonic() - began < 10
    message = str(raised.value)
    assert f"cannot reach the MLflow tracking server {silent_server}" in message
    assert "no answer within 1 s" in message and "ETH_ASSETS_MLFLOW_TIMEOUT_SECONDS" in message


def test_mlflow_requests_are_bounded_unless_the_user_set_mlflow_variables(
    unavailable_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETH_ASSETS_MLFLOW_TIMEOUT_SECONDS", "7.5")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    MlflowTracker(tracking_uri=unavailable_server).client()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "8"  # whole seconds, rounded up
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"  # the user's value stays
    monkeypatch.setenv("ETH_ASSETS_MLFLOW_TIMEOUT_SECONDS", "3")
    MlflowTracker(tracking_uri=unavailable_server).client()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "3"  # the tracker's own value follows


# A store file that is not a store is an error, never a fresh store.


def test_an_emptied_store_file_is_an_error_naming_it(tmp_path: Path) -> None:
    store = tmp_path / "mlflow.db"
    store.write_bytes(b"")
    with pytest.raises(TrackingStoreError) as raised:
        _tracker(tmp_path).version(MODEL, "champion")
    assert f"the MLflow store {store} is empty (0 bytes)" in str(raised.value)
    assert store.stat().st_size == 0  # not silently recreated


def test_a_store_file_that_is_not_a_database_is_an_error_naming_it(tmp_path: Path) -> None:
    store = tmp_path / "mlflow.db"
    store.write_bytes(b"these are not the runs you are looking for")
    expected = f"the MLflow store {store} is not a readable"
    with (
        pytest.raises(TrackingStoreError, match=expected),
        _tracker(tmp_path).start_run("a", "b", {}),
    ):
        pass


def test_a_missing_store_file_is_a_new_store(tmp_path: Path) -> None:
    assert _tracker(tmp_path / "new").version(MODEL, "champion") is None
    assert (tmp_path / "new" / "mlflow.db").stat().st_size > 0


# Runs end whatever happens, and leave no temporary folder.


def _status(tracker: MlflowTracker, run_id: str) -> str:
    return MlflowClient(tracker.resolved_uri()).get_run(run_id).info.status


def test_a_run_that_raises_ends_failed_and_removes_its_temporary_folder(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    with pytest.raises(ValueError, match="training failed"), tracker.start_run("a", "r", {}) as run:
        (run.temp_dir / "model.pkl").write_bytes(b"half a model")
        raise ValueError("training failed")
    assert _status(tracker, run.run_id) == "FAILED"
    assert not run.temp_dir.exists()


def test_an_interrupted_run_ends_killed(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    with pytest.raises(KeyboardInterrupt), tracker.start_run("asset", "run", {}) as run:
        raise KeyboardInterrupt
    assert _status(tracker, run.run_id) == "KILLED"
    assert not run.temp_dir.exists()


def test_sigterm_during_a_run_ends_it_killed(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    inherited = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # CI may start us ignoring it
    try:
        interrupted = pytest.raises(KeyboardInterrupt, match="terminated by signal")
        with interrupted, tracker.start_run("asset", "run", {}) as run:
            signal.raise_signal(signal.SIGTERM)
        assert _status(tracker, run.run_id) == "KILLED"
        assert not run.temp_dir.exists()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored
    finally:
        signal.signal(signal.SIGTERM, inherited)


def test_a_finished_run_ends_finished(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    with tracker.start_run("asset", "run", {"as_of": "2021-01-01"}) as run:
        pass
    assert _status(tracker, run.run_id) == "FINISHED"
    tags = MlflowClient(tracker.resolved_uri()).get_run(run.run_id).data.tags
    assert (tags[HOST_TAG], tags[PID_TAG]) == (socket.gethostname(), str(os.getpid()))


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_the_next_run_cleans_up_after_a_killed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 leaves a RUNNING run and a temporary folder: the asset's next run marks the run
    FAILED with a tag saying why and removes the folder; a live process's run and folder, and
    another asset's, are left alone."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    tracker = _tracker(tmp_path)
    client = tracker.client()
    experiment = tracker.experiment_id(client, "asset")
    dead = _dead_pid()
    host = socket.gethostname()
    killed = client.create_run(experiment, tags={HOST_TAG: host, PID_TAG: str(dead)})
    live = client.create_run(experiment, tags={HOST_TAG: host, PID_TAG: str(os.getpid())})
    elsewhere = client.create_run(experiment, tags={HOST_TAG: "another-host", PID_TAG: str(dead)})
    left = temporary / f"mlflow.eth_assets-tmp-{host}-{dead}-abc123"
    left.mkdir()
    (left / "model.pkl").write_bytes(b"x")
    mine = Path(tempfile.mkdtemp(prefix=temporary_prefix("mlflow")))
    stranger = temporary / "someone-elses-folder"
    stranger.mkdir()
    time.sleep(0.01)  # the next run starts strictly later

    with tracker.start_run("asset", "next", {}) as run:
        pass

    assert _status(tracker, killed.info.run_id) == "FAILED"
    why = client.get_run(killed.info.run_id).data.tags[STALE_TAG]
    assert f"process {dead} on {host}" in why and "no longer runs" in why and "'next'" in why
    assert _status(tracker, live.info.run_id) == "RUNNING"
    assert _status(tracker, elsewhere.info.run_id) == "RUNNING"  # cannot tell: left alone
    assert _status(tracker, run.run_id) == "FINISHED"
    assert not left.exists()
    assert mine.exists() and stranger.exists()


def test_a_model_logged_from_a_candidate_file_loads_back(tmp_path: Path) -> None:
    """The logged artifact is `model.pkl` whatever the local file is called."""
    tracker = _tracker(tmp_path)
    candidate = tmp_path / "models" / "model.candidate.pkl"
    candidate.parent.mkdir()
    candidate.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with tracker.start_run("asset", "run", {}) as run:
        version = tracker.log_model(run, candidate, MODEL)
    tracker.set_alias(MODEL, "champion", version)
    model, found = tracker.load_model(MODEL, "champion")
    assert model == {"weights": [1, 2, 3]} and found.version == version == 1
    assert candidate.exists()  # the caller decides where the file goes
