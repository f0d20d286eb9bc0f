"""The MLflow tracker: one experiment per model asset, one MLflow run per materialization.

Only this module (and resources/mlflow_model.py, the pyfunc flavour it logs models with)
imports mlflow, inside the methods that need it: importing mlflow takes most of a second, which
every step process would pay when the code location loads. It uses `MlflowClient` with an
explicit tracking URI (no global active run), so runs of different assets never mix, and a run
is always ended: FINISHED when the block completes, FAILED when it raises.
"""

from __future__ import annotations

import fcntl
import math
import pickle
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import ConfigurableResource
from pydantic import Field

from eth_assets import settings

if TYPE_CHECKING:  # mlflow takes most of a second to import: only where a run is tracked
    from mlflow.tracking import MlflowClient

EXPERIMENT_PREFIX = "eth_assets"
CHAMPION = "champion"
MODEL_FILE = "model.pkl"  # the pickled plain model inside a logged MLflow model's artifacts
# What a logged model needs to be loaded with mlflow.pyfunc elsewhere.
MODEL_REQUIREMENTS = ["eth_assets", "catboost", "scikit-learn", "polars", "numpy", "pandas"]
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
        """A client of the store; a SQLite store's folder is created first."""
        from mlflow.tracking import MlflowClient

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

    def log_model(self, run: TrackedRun, model_file: Path, registered_name: str) -> int:
        """Log a pickled model (with `score`) as an MLflow pyfunc model under `model/` of the
        run and register it as a new version of `registered_name`; the version number."""
        import mlflow.pyfunc
        from mlflow.exceptions import MlflowException

        from eth_assets.resources.mlflow_model import PlainModelPyfunc

        client = run.client
        with tempfile.TemporaryDirectory() as folder:
            saved = Path(folder) / "model"
            mlflow.pyfunc.save_model(
                path=str(saved),
                python_model=PlainModelPyfunc(),
                artifacts={"model": str(model_file)},
                pip_requirements=MODEL_REQUIREMENTS,
            )
            client.log_artifacts(run.run_id, str(saved), "model")
        try:
            client.create_registered_model(registered_name)
        except MlflowException as error:
            if "already exists" not in str(error).lower():
                raise
        source = f"{client.get_run(run.run_id).info.artifact_uri}/model"
        version = client.create_model_version(registered_name, source, run_id=run.run_id)
        return int(version.version)

    def version(self, registered_name: str, which: str) -> RegisteredVersion | None:
        """A version by number, or by alias (e.g. `champion`); None when there is none."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            found = (
                client.get_model_version(registered_name, which)
                if which.isdigit()
                else client.get_model_version_by_alias(registered_name, which)
            )
        except MlflowException:
            return None
        metrics = client.get_run(found.run_id).data.metrics if found.run_id else {}
        return RegisteredVersion(registered_name, int(found.version), found.run_id, dict(metrics))

    def set_alias(self, registered_name: str, alias: str, version: int) -> None:
        self.client().set_registered_model_alias(registered_name, alias, str(version))

    def load_model(self, registered_name: str, which: str) -> tuple[object, RegisteredVersion]:
        """The plain model object of a registered version (number or alias) and the version."""
        found = self.version(registered_name, which)
        if found is None:
            raise LookupError(
                f"the MLflow registry at {self.resolved_uri()} has no version {which!r} of "
                f"{registered_name!r}: materialize illicit_classifier first, or point "
                "MLFLOW_TRACKING_URI at the store that has it"
            )
        with tempfile.TemporaryDirectory() as folder:
            local = self.client().download_artifacts(found.run_id, "model", folder)
            path = Path(local) / "artifacts" / MODEL_FILE
            if not path.is_file():
                candidates = list(Path(local).rglob("*.pkl"))
                if len(candidates) != 1:
                    raise FileNotFoundError(f"no pickled model in {local} of version {which}")
                path = candidates[0]
            with path.open("rb") as handle:
                model = pickle.load(handle)
        return model, found
