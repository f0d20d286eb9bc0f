"""The MLflow tracker: one experiment per model asset, one MLflow run per materialization.

Only this module imports mlflow. It uses `MlflowClient` with an explicit tracking URI (no global
active run), so runs of different assets never mix, and a run is always ended: FINISHED when the
block completes, FAILED when it raises.
"""

from __future__ import annotations

import fcntl
import math
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dagster import ConfigurableResource
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from pydantic import Field

from eth_assets import settings

EXPERIMENT_PREFIX = "eth_assets"
MAX_PARAM_LENGTH = 6000  # MLflow's limit on one parameter value


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


@dataclass(frozen=True)
class TrackedRun:
    """An open MLflow run: log to it with the methods below."""

    client: MlflowClient
    run_id: str
    experiment_id: str
    url: str

    def log_params(self, params: Mapping[str, object]) -> None:
        """Parameters as text (MLflow stores them as strings)."""
        batch = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        for start in range(0, len(batch), 100):
            self.client.log_batch(self.run_id, params=batch[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Numeric metrics; NaN and infinite values are skipped (MLflow rejects them)."""
        batch = [
            Metric(k, float(v), 0, step)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        for start in range(0, len(batch), 1000):
            self.client.log_batch(self.run_id, metrics=batch[start : start + 1000])

    def set_tags(self, tags: Mapping[str, object]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        """A file (plot, table, model) into the run's artifact store."""
        self.client.log_artifact(self.run_id, str(path), folder)


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
        """A client of the store; a SQLite store's folder is created first."""
        uri = self.resolved_uri()
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return MlflowClient(tracking_uri=uri)

    def experiment_id(self, client: MlflowClient, asset_name: str) -> str:
        """The experiment `eth_assets/<asset>`, created (with its artifact folder) if missing.

        Creating the store and the experiment is serialised with a file lock: two assets that
        start at once must not both run the store's schema migrations or create the same name.
        """
        name = f"{EXPERIMENT_PREFIX}/{asset_name}"
        root = self.resolved_artifact_root()
        root.mkdir(parents=True, exist_ok=True)
        with (root / ".tracker.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
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
        """One MLflow run in the asset's experiment, ended FINISHED, or FAILED if the block
        raises. `tags` (Dagster run id, asset key, as_of, source…) are set at the start, with
        the git commit."""
        client = self.client()
        experiment_id = self.experiment_id(client, asset_name)
        all_tags = {"git_commit": git_commit(), **{k: str(v) for k, v in tags.items()}}
        run = client.create_run(experiment_id, tags=all_tags, run_name=run_name)
        tracked = TrackedRun(
            client=client,
            run_id=run.info.run_id,
            experiment_id=experiment_id,
            url=self.run_url(experiment_id, run.info.run_id),
        )
        try:
            yield tracked
        except BaseException:
            client.set_terminated(run.info.run_id, status="FAILED")
            raise
        client.set_terminated(run.info.run_id, status="FINISHED")
