"""The MLflow tracker: one experiment per model asset, one MLflow run per materialization.

Only this module (and models/mlflow_pyfunc.py, the pyfunc flavour it logs models with)
imports mlflow, inside the methods that need it: importing mlflow takes most of a second, which
every step process would pay when the code location loads. It uses `MlflowClient` with an
explicit tracking URI (no global active run), so runs of different assets never mix, and a run
is always ended: FINISHED when the block completes, FAILED when it raises, KILLED when it is
interrupted (KeyboardInterrupt, SIGTERM); a run left RUNNING by a process killed outright is
marked FAILED by the asset's next run.

Every failure of the store is an error naming it (TrackingStoreError): the registry saying a
model or alias does not exist is the only "none". A server is checked to answer within
ETH_ASSETS_MLFLOW_TIMEOUT_SECONDS before use, and MLflow's own requests are bounded by the same
timeout and few retries; a SQLite store file that is empty or not a database is an error, never
silently recreated.
"""

from __future__ import annotations

import fcntl
import math
import os
import pickle
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from eth_assets import settings
from eth_assets.common.files import (
    process_alive,
    remove_stale_temporaries,
    temporary_prefix,
)

if TYPE_CHECKING:  # mlflow takes most of a second to import: only where a run is tracked
    from mlflow.tracking import MlflowClient

    from eth_assets.models.champion import GateDecision

EXPERIMENT_PREFIX = "eth_assets"
CHAMPION = "champion"
MODEL_FILE = "model.pkl"  # the pickled plain model inside a logged MLflow model's artifacts
# What a logged model needs to be loaded with mlflow.pyfunc elsewhere.
MODEL_REQUIREMENTS = ["eth_assets", "catboost", "scikit-learn", "polars", "numpy", "pandas"]
MAX_PARAM_LENGTH = 6000  # MLflow's limit on one parameter value
# The registry's answer for "no such registered model / version": the only error that means none.
DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
SQLITE_HEADER = b"SQLite format 3\x00"
# Tags that say which process owns a run, so a run left RUNNING by a killed one can be told apart
# from a live one; a run RUNNING for longer than STALE_AFTER_SECONDS counts as stale anyway.
HOST_TAG = "eth_assets.host"
PID_TAG = "eth_assets.pid"
STALE_TAG = "eth_assets.stale_run"
STALE_AFTER_SECONDS = 24 * 3600
TEMP_STEM = "mlflow"  # the tracker's temporary folders under the system's temporary folder


class TrackingStoreError(RuntimeError):
    """The MLflow store could not be read or written; the message names it and what to do."""


def redacted_uri(uri: str) -> str:
    """`uri` with the password of its user part (`user:password@`) replaced by `***`."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def redact(text: str, uri: str) -> str:
    """`text` with the password of `uri` (if any) replaced by `***` wherever it occurs."""
    password = urlsplit(uri).password
    return text.replace(password, "***") if password else text


def is_missing(error: BaseException) -> bool:
    """Whether an MLflow error is the registry saying the model or version does not exist."""
    return getattr(error, "error_code", None) == DOES_NOT_EXIST


def check_sqlite_store(path: Path) -> None:
    """Fail naming `path` when an existing SQLite store file is empty, unreadable or not a
    database (MLflow would start a fresh store in it); a missing file is a new store."""
    if not path.exists():
        return
    what_to_do = (
        "restore it from a backup, or point MLFLOW_TRACKING_URI at the store that holds the "
        "runs and the registry; to start a new store on purpose, move the file away first"
    )
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise TrackingStoreError(
            f"the MLflow store {path} cannot be read ({error.strerror or error}): fix its "
            f"permissions, or {what_to_do}"
        ) from error
    if not header:
        raise TrackingStoreError(
            f"the MLflow store {path} is empty (0 bytes): MLflow would silently start a new store "
            f"in it and forget every run and the registry's champion; {what_to_do}"
        )
    if header != SQLITE_HEADER or not os.access(path, os.R_OK | os.W_OK):
        raise TrackingStoreError(
            f"the MLflow store {path} is not a readable and writable SQLite database; {what_to_do}"
        )


def probe_server(uri: str, timeout: float) -> None:
    """Fail within `timeout` seconds, naming the server, when an HTTP(S) tracking server does not
    answer; any HTTP answer (even an error status) counts as reachable."""
    import requests

    parts = urlsplit(uri)
    health = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/health"
    try:
        requests.get(health, timeout=(timeout, timeout), allow_redirects=False).close()
    except requests.RequestException as error:
        kind = (
            f"no answer within {timeout:g} s"
            if isinstance(error, requests.Timeout)
            else f"{type(error).__name__}: {redact(str(error), uri)}"
        )
        raise TrackingStoreError(
            f"cannot reach the MLflow tracking server {redacted_uri(uri)} ({kind}). Start it "
            "(`mlflow server …`) or point MLFLOW_TRACKING_URI at one that runs (unset, the "
            f"store is SQLite under the data dir); {settings.MLFLOW_TIMEOUT_ENV} sets how long "
            "to wait"
        ) from None


def end_stale_runs(
    client: MlflowClient, experiment_id: str, before_ms: int, by: str = ""
) -> list[str]:
    """Mark FAILED the runs of the experiment still RUNNING that started before `before_ms`
    and whose process is gone (same host, process no longer running) or that started more than
    STALE_AFTER_SECONDS ago; each gets a tag saying why. The ids of the runs marked."""
    host = socket.gethostname()
    marked = []
    running = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    for run in running:
        started = run.info.start_time or 0
        if started >= before_ms:
            continue
        tags = run.data.tags
        pid = tags.get(PID_TAG, "")
        gone = tags.get(HOST_TAG) == host and pid.isdigit() and not process_alive(int(pid))
        too_old = before_ms - started > STALE_AFTER_SECONDS * 1000
        if not (gone or too_old):
            continue
        why = (
            f"process {pid} on {host} that ran it no longer runs (killed before it could end "
            "the run)"
            if gone
            else f"RUNNING for more than {STALE_AFTER_SECONDS // 3600} h"
        )
        client.set_tag(run.info.run_id, STALE_TAG, f"marked FAILED{' ' + by if by else ''}: {why}")
        client.set_terminated(run.info.run_id, status="FAILED")
        marked.append(run.info.run_id)
    return marked


@contextmanager
def sigterm_raises_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM raises KeyboardInterrupt (when no one else handles SIGTERM and
    this is the main thread), so that a terminated run still ends KILLED and cleans up."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"terminated by signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@cache
def git_commit() -> str:
    """The checkout's commit (with `+dirty` for uncommitted changes), or `unknown`."""
    folder = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def time_ms() -> int:
    """Now, in milliseconds since the epoch (MLflow's clock)."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class TrackedRun:
    """An open MLflow run: log to it with the methods below."""

    client: MlflowClient
    run_id: str
    experiment_id: str
    url: str
    temp_dir: Path  # removed when the run ends, however it ends

    def log_params(self, params: Mapping[str, object]) -> None:
        """Parameters as text (MLflow stores them as strings)."""
        from mlflow.entities import Param

        batch = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        for start in range(0, len(batch), 100):
            self.client.log_batch(self.run_id, params=batch[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Numeric metrics; NaN and infinite values are skipped (MLflow rejects them)."""
        from mlflow.entities import Metric

        batch = [
            Metric(k, float(v), 0, step)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        for start in range(0, len(batch), 1000):
            self.client.log_batch(self.run_id, metrics=batch[start : start + 1000])

    def set_tags(self, tags: Mapping[str, object]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        """A file (plot, table, model) into the run's artifact store."""
        self.client.log_artifact(self.run_id, str(path), folder)


@dataclass(frozen=True)
class RegisteredVersion:
    """One version of a registered model and the run that logged it."""

    name: str
    version: int
    run_id: str
    metrics: dict[str, float]


class MlflowTracker(ConfigurableResource):
    """Where model runs are tracked: `$MLFLOW_TRACKING_URI`, else SQLite under the data dir."""

    tracking_uri: str = Field(
        default="", description="MLflow tracking URI; empty: the MLFLOW_TRACKING_URI setting."
    )
    artifact_root: str = Field(
        default="", description="Folder for new experiments' artifacts; empty: <data>/mlflow."
    )
    ui_url: str = Field(
        default="", description="MLflow UI address for links; empty: ETH_ASSETS_MLFLOW_UI_URL."
    )

    def resolved_uri(self) -> str:
        return self.tracking_uri or settings.mlflow_tracking_uri()

    def resolved_artifact_root(self) -> Path:
        return (
            Path(self.artifact_root).resolve()
            if self.artifact_root
            else (settings.mlflow_artifact_root())
        )

    def resolved_ui_url(self) -> str:
        return (self.ui_url or settings.mlflow_ui_url()).rstrip("/")

    def client(self) -> MlflowClient:
        """A client of the store, checked first: a SQLite file must be a database (its folder
        is created for a new one), a server must answer within the timeout."""
        from mlflow.tracking import MlflowClient

        uri = self.resolved_uri()
        if uri.startswith("sqlite:///"):
            path = Path(uri.removeprefix("sqlite:///"))
            check_sqlite_store(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            # Opened under the lock: a file that exists may still be mid-migration in another
            # process, and this process's first use would run the same migrations beside it.
            with self.store_lock(), self.store_errors("opening the store"):
                MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        elif urlsplit(uri).scheme in {"http", "https"}:
            probe_server(uri, settings.bound_mlflow_http_requests())
        return MlflowClient(tracking_uri=uri)

    @contextmanager
    def store_lock(self) -> Iterator[None]:
        """An exclusive file lock shared by every process of this data dir: creating the store
        and its experiments happens under it, so two steps that start at once never both run
        the store's schema migrations or create the same experiment."""
        root = self.resolved_artifact_root()
        root.mkdir(parents=True, exist_ok=True)
        with (root / ".tracker.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    @contextmanager
    def store_errors(self, doing: str) -> Iterator[None]:
        """Any MLflow or connection error inside the block as a TrackingStoreError naming the
        store (password redacted) and what the tracker was doing."""
        import requests
        from mlflow.exceptions import MlflowException

        try:
            yield
        except (MlflowException, requests.RequestException, OSError) as error:
            uri = self.resolved_uri()
            raise TrackingStoreError(
                f"the MLflow store {redacted_uri(uri)} failed while {doing}: "
                f"{redact(str(error), uri)}. Nothing was decided on a guess: check that the "
                "store is up and is the one MLFLOW_TRACKING_URI should name, then materialize "
                "again"
            ) from error

    def experiment_id(self, client: MlflowClient, asset_name: str) -> str:
        """The experiment `eth_assets/<asset>`, created (with its artifact folder) if missing.

        Creating the store and the experiment is serialised with a file lock: two assets that
        start at once must not both run the store's schema migrations or create the same name.
        """
        name = f"{EXPERIMENT_PREFIX}/{asset_name}"
        root = self.resolved_artifact_root()
        with self.store_lock(), self.store_errors(f"finding the experiment {name}"):
            experiment = client.get_experiment_by_name(name)
            if experiment is not None:
                return experiment.experiment_id
            return client.create_experiment(name, artifact_location=(root / asset_name).as_uri())

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.resolved_ui_url()}/#/experiments/{experiment_id}/runs/{run_id}"

    @contextmanager
    def start_run(
        self, asset_name: str, run_name: str, tags: Mapping[str, object]
    ) -> Iterator[TrackedRun]:
        """One MLflow run in the asset's experiment, ended FINISHED, FAILED if the block raises,
        KILLED if it is interrupted; its temporary folder is removed however it ends. `tags`
        (Dagster run id, asset key, as_of, source…) are set at the start, with the git commit
        and the owning process. Runs and temporary folders that killed processes left behind
        are cleaned up first."""
        client = self.client()
        experiment_id = self.experiment_id(client, asset_name)
        log = get_dagster_logger()
        with self.store_errors(f"ending stale runs of {asset_name}"):
            stale = end_stale_runs(client, experiment_id, time_ms(), f"by {run_name!r}")
        if stale:
            log.warning(f"marked {len(stale)} stale RUNNING MLflow run(s) FAILED: {stale}")
        removed = remove_stale_temporaries(Path(tempfile.gettempdir()))
        if removed:
            log.info(f"removed temporary folders of killed runs: {[str(p) for p in removed]}")
        all_tags = {
            "git_commit": git_commit(),
            HOST_TAG: socket.gethostname(),
            PID_TAG: str(os.getpid()),
            **{k: str(v) for k, v in tags.items()},
        }
        with self.store_errors(f"starting a run of {asset_name}"):
            run = client.create_run(experiment_id, tags=all_tags, run_name=run_name)
        tracked = TrackedRun(
            client=client,
            run_id=run.info.run_id,
            experiment_id=experiment_id,
            url=self.run_url(experiment_id, run.info.run_id),
            temp_dir=Path(tempfile.mkdtemp(prefix=temporary_prefix(TEMP_STEM))),
        )
        status = "KILLED"  # unless the block finishes or raises an ordinary error
        try:
            with sigterm_raises_interrupt():
                yield tracked
            status = "FINISHED"
        except Exception:
            status = "FAILED"
            raise
        finally:
            shutil.rmtree(tracked.temp_dir, ignore_errors=True)
            self._end_run(client, tracked.run_id, status)

    def _end_run(self, client: MlflowClient, run_id: str, status: str) -> None:
        """End the run with `status`; failing to end a finished run is an error, failing to end
        a failed or killed one is logged (the original error is the one to raise)."""
        try:
            with self.store_errors(f"ending run {run_id} as {status}"):
                client.set_terminated(run_id, status=status)
        except TrackingStoreError as error:
            if status == "FINISHED":
                raise
            get_dagster_logger().warning(f"{error} (the next run marks it FAILED)")

    def log_model(self, run: TrackedRun, model_file: Path, registered_name: str) -> int:
        """Log a pickled model (with `score`) as an MLflow pyfunc model under `model/` of the
        run and register it as a new version of `registered_name`; the version number."""
        import mlflow.pyfunc
        from mlflow.exceptions import MlflowException

        from eth_assets.models.mlflow_pyfunc import PlainModelPyfunc

        client = run.client
        saved = run.temp_dir / "model"
        # The artifact is always `model.pkl`, whatever the local file is called (a candidate).
        named = run.temp_dir / "file" / MODEL_FILE
        named.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model_file, named)
        mlflow.pyfunc.save_model(
            path=str(saved),
            python_model=PlainModelPyfunc(),
            artifacts={"model": str(named)},
            pip_requirements=MODEL_REQUIREMENTS,
        )
        with self.store_errors(f"logging and registering a version of {registered_name!r}"):
            client.log_artifacts(run.run_id, str(saved), "model")
            try:
                client.create_registered_model(registered_name)
            except MlflowException as error:
                if getattr(error, "error_code", None) != ALREADY_EXISTS:
                    raise
            source = f"{client.get_run(run.run_id).info.artifact_uri}/model"
            version = client.create_model_version(registered_name, source, run_id=run.run_id)
        shutil.rmtree(saved, ignore_errors=True)
        shutil.rmtree(named.parent, ignore_errors=True)
        return int(version.version)

    def version(self, registered_name: str, which: str) -> RegisteredVersion | None:
        """A version by number, or by alias (e.g. `champion`); None only when the registry says
        the model, version or alias does not exist. Any other failure (a 503, a timeout, a
        broken store) raises TrackingStoreError: a gate must not read it as "no champion"."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        with self.store_errors(f"looking up {which!r} of {registered_name!r}"):
            try:
                model = client.get_registered_model(registered_name)
            except MlflowException as error:
                if is_missing(error):
                    return None
                raise
            number = which if which.isdigit() else model.aliases.get(which)
            if number is None:
                return None
            try:
                found = client.get_model_version(registered_name, str(number))
            except MlflowException as error:
                if is_missing(error) and which.isdigit():
                    return None
                raise
            metrics = client.get_run(found.run_id).data.metrics if found.run_id else {}
        return RegisteredVersion(registered_name, int(found.version), found.run_id, dict(metrics))

    def set_alias(self, registered_name: str, alias: str, version: int) -> None:
        client = self.client()
        with self.store_errors(f"moving {alias!r} of {registered_name!r} to version {version}"):
            client.set_registered_model_alias(registered_name, alias, str(version))

    def champion_gate(self, registered_name: str, score: float, floor: float) -> GateDecision:
        """The champion rule (eth_assets.models.champion) for a new model of `registered_name`
        scoring `score`, against the registry's champion now; a store that cannot answer raises
        TrackingStoreError, never "no champion"."""
        from eth_assets.models.champion import decide_champion

        return decide_champion(score, floor, self.version(registered_name, CHAMPION))

    def promote(self, registered_name: str, version: int, gate: GateDecision) -> None:
        """Move the `champion` alias to `version` when the gate passed it; else leave it."""
        if gate.passed:
            self.set_alias(registered_name, CHAMPION, version)

    def load_model(self, registered_name: str, which: str) -> tuple[object, RegisteredVersion]:
        """The plain model object of a registered version (number or alias) and the version."""
        found = self.version(registered_name, which)
        if found is None:
            raise LookupError(
                f"the MLflow registry at {redacted_uri(self.resolved_uri())} has no version "
                f"{which!r} of {registered_name!r}: materialize illicit_classifier first, or point "
                "MLFLOW_TRACKING_URI at the store that has it"
            )
        client = self.client()
        with tempfile.TemporaryDirectory(prefix=temporary_prefix(TEMP_STEM)) as folder:
            with self.store_errors(f"downloading version {found.version} of {registered_name!r}"):
                local = client.download_artifacts(found.run_id, "model", folder)
            path = Path(local) / "artifacts" / MODEL_FILE
            if not path.is_file():
                candidates = list(Path(local).rglob("*.pkl"))
                if len(candidates) != 1:
                    raise FileNotFoundError(f"no pickled model in {local} of version {which}")
                path = candidates[0]
            with path.open("rb") as handle:
                model = pickle.load(handle)
        return model, found
