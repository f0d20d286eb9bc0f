"""Guards of the model assets that need no trained model: the champion gate when the registry
cannot answer, the local model file only a passed gate may replace, config checked before any
work, and temporary files of killed runs removed from the model folders."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from dagster import DagsterInstance, materialize
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE
from pydantic import ValidationError

from eth_assets.models.classifier_assets import (
    REGISTERED_MODEL,
    IllicitClassifierConfig,
    ModelComparisonConfig,
    TrainingSetConfig,
    check_folds_fit_classes,
    decide_champion,
    illicit_classifier,
)
from eth_assets.models.evaluation_assets import (
    EraMatchedEvaluationConfig,
    OutOfTimeEvaluationConfig,
)
from eth_assets.models.illicit_type_assets import IllicitTypeConfig
from eth_assets.models.model_runs import keep_model_file
from eth_assets.resources.model_store import ModelStore
from eth_assets.resources.tracking import (
    CHAMPION,
    MlflowTracker,
    RegisteredVersion,
    TrackingStoreError,
)

# The champion gate.


REGISTRY_READS = frozenset(
    {"get_registered_model", "get_model_version", "get_model_version_by_alias"}
)


class _RegistryAnswering503:
    """A client whose registry reads fail as MLflow reports a 503 after its retries; the rest
    is the real client."""

    def __init__(self, client: object) -> None:
        self.client = client

    def __getattr__(self, name: str) -> object:
        if name in REGISTRY_READS:

            def unavailable(*args: object, **kwargs: object) -> None:
                raise MlflowException(
                    "API request to http://mlflow:5000/api/2.0/mlflow/registered-models/alias "
                    "failed with error code 503 != 200",
                    error_code=TEMPORARILY_UNAVAILABLE,
                )

            return unavailable
        return getattr(self.client, name)


class Registry503Tracker(MlflowTracker):
    """The tracker over a real SQLite store, its registry reads answering 503."""

    def client(self):  # type: ignore[override]
        return _RegistryAnswering503(super().client())


def _champion_at(tracker: MlflowTracker, auc: float) -> int:
    """A registered version whose run has cv_roc_auc `auc`, made champion; its number."""
    client = tracker.client()
    run = client.create_run(tracker.experiment_id(client, "illicit_classifier"))
    client.log_metric(run.info.run_id, "cv_roc_auc", auc)
    client.set_terminated(run.info.run_id)
    client.create_registered_model(REGISTERED_MODEL)
    version = client.create_model_version(REGISTERED_MODEL, "file:///x", run_id=run.info.run_id)
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION, version.version)
    return int(version.version)


def test_a_rejected_model_cannot_become_champion_when_the_registry_answers_503(
    tmp_path: Path,
) -> None:
    """Seen: a model at CV AUC 0.9532 became champion over one at 0.9999 while the alias lookup
    answered 503. Now the lookup fails naming the store, and the gate decides nothing."""
    settings = {
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "artifact_root": str(tmp_path / "artifacts"),
    }
    number = _champion_at(MlflowTracker(**settings), 0.9999)
    tracker = Registry503Tracker(**settings)
    with pytest.raises(TrackingStoreError) as raised:
        decide_champion(0.9532, 0.8, tracker.version(REGISTERED_MODEL, CHAMPION))
    message = str(raised.value)
    assert f"the MLflow store sqlite:///{tmp_path / 'mlflow.db'} failed" in message
    assert "503" in message
    champion = MlflowTracker(**settings).version(REGISTERED_MODEL, CHAMPION)
    assert champion is not None and champion.version == number


def _version(auc: float | None) -> RegisteredVersion:
    return RegisteredVersion(REGISTERED_MODEL, 4, "run", {} if auc is None else {"cv_roc_auc": auc})


@pytest.mark.parametrize(
    ("auc", "champion", "passed", "reason"),
    [
        (0.9532, _version(0.9999), False, "below the champion's 0.9999 (version 4)"),
        (0.95, _version(0.95), True, ""),
        (0.95, None, True, ""),
        (0.75, None, False, "CV ROC-AUC 0.7500 below the floor 0.8"),
        (0.99, _version(None), False, "has no cv_roc_auc to compare with"),
    ],
)
def test_the_gate_compares_with_the_floor_and_the_champion(
    auc: float, champion: RegisteredVersion | None, passed: bool, reason: str
) -> None:
    decision = decide_champion(auc, 0.8, champion)
    assert decision.passed is passed
    assert reason in decision.reason and (passed or reason)


# Only a model that passed the gate replaces the local file.


def test_a_rejected_model_does_not_replace_the_local_model_file(tmp_path: Path) -> None:
    current = tmp_path / "model.pkl"
    current.write_bytes(b"the champion")
    (tmp_path / "rejected").mkdir()
    (tmp_path / "rejected" / "model-v2.pkl").write_bytes(b"rejected before")
    candidate = tmp_path / "model.candidate.pkl"
    candidate.write_bytes(b"a weaker model")
    kept = keep_model_file(candidate, passed=False, version=3)
    assert kept == tmp_path / "rejected" / "model-v3.pkl"
    assert current.read_bytes() == b"the champion"
    assert kept.read_bytes() == b"a weaker model"
    assert sorted(p.name for p in (tmp_path / "rejected").iterdir()) == ["model-v3.pkl"]
    assert not candidate.exists()

    candidate.write_bytes(b"a better model")
    assert keep_model_file(candidate, passed=True, version=4) == current
    assert current.read_bytes() == b"a better model" and not candidate.exists()


# Config is checked before anything is read or trained.


@pytest.mark.parametrize(
    ("config", "values", "message"),
    [
        (IllicitClassifierConfig, {"paper_table_folds": []}, "paper_table_folds=[]: must be"),
        (IllicitClassifierConfig, {"paper_table_folds": [3, 1]}, "k ≥ 2"),
        (IllicitClassifierConfig, {"paper_table_folds": [5, 5]}, "distinct"),
        (IllicitClassifierConfig, {"grid": "huge"}, "grid='huge': must be one of 'small', 'paper'"),
        (IllicitClassifierConfig, {"threads": 0}, "threads=0: must be at least 1"),
        (IllicitClassifierConfig, {"validation_share": 1.0}, "validation_share=1.0: must lie"),
        (IllicitClassifierConfig, {"medium_from": 0.95}, "must be below critical_from=0.9"),
        (IllicitClassifierConfig, {"auc_floor": 1.5}, "auc_floor=1.5: must lie in [0, 1]"),
        (TrainingSetConfig, {"folds": 1}, "folds=1: must be at least 2"),
        (TrainingSetConfig, {"illicit_values": []}, "illicit_values=[]"),
        (TrainingSetConfig, {"normal_values": ["1"]}, "share ['1']"),
        (ModelComparisonConfig, {"catboost_depth": 0}, "catboost_depth=0: must be from 1 to 16"),
        (ModelComparisonConfig, {"catboost_iterations": 0}, "catboost_iterations=0"),
        (ModelComparisonConfig, {"catboost_learning_rate": 0}, "must be above 0"),
        (IllicitTypeConfig, {"folds": 1}, "folds=1: must be at least 2"),
        (EraMatchedEvaluationConfig, {"folds": 0}, "folds=0: must be at least 2"),
        (EraMatchedEvaluationConfig, {"size_bands": 0}, "size_bands=0"),
        (OutOfTimeEvaluationConfig, {"auc_floor": -0.1}, "auc_floor=-0.1"),
        (OutOfTimeEvaluationConfig, {"model": " "}, "model=''"),
    ],
)
def test_bad_config_fails_naming_the_field_and_the_allowed_values(
    config: type, values: dict, message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        config(**values)
    assert message in str(raised.value)


def test_empty_paper_table_folds_fail_the_run_before_anything_is_read(
    make_resources, tmp_path: Path
) -> None:
    """Seen: `paper_table_folds: []` crashed after 3.5 minutes of training. Now the step fails
    at once on its config, before reading the warehouse (empty here) or the registry."""
    began = time.monotonic()
    result = materialize(
        [illicit_classifier],
        resources=make_resources(),
        instance=DagsterInstance.ephemeral(),
        run_config={"ops": {"illicit_classifier": {"config": {"paper_table_folds": []}}}},
        raise_on_error=False,
    )
    assert not result.success
    assert time.monotonic() - began < 60
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.event_specific_data.error
    text = str(error.to_string()) + "".join(
        c.to_string() for c in (error.cause, error.context) if c is not None
    )
    assert "paper_table_folds=[]: must be one or more distinct whole numbers" in text
    assert "materialize clean_features first" not in text
    assert not (tmp_path / "mlflow" / "mlflow.db").exists()


def test_paper_table_folds_above_the_smaller_class_fail_before_training() -> None:
    labels = np.array([1] * 4 + [0] * 40)
    check_folds_fit_classes([3, 4], labels)
    with pytest.raises(ValueError, match=r"paper_table_folds=\[3, 10\]: \[10\] exceed the 4"):
        check_folds_fit_classes([3, 10], labels)


# Temporary files of killed runs.


def test_the_model_folder_loses_temporary_files_of_killed_runs(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    host = socket.gethostname()
    folder = tmp_path / "models" / "illicit_classifier"
    folder.mkdir(parents=True)
    stale = folder / f".model.pkl.eth_assets-tmp-{host}-{child.pid}-k2j4_x"
    live = folder / f".model.pkl.eth_assets-tmp-{host}-{os.getpid()}-a1b2c3"
    other_host = folder / f".model.pkl.eth_assets-tmp-elsewhere-{child.pid}-a1b2c3"
    unmarked = folder / ".model.pkl.k2j4_x"
    for path in (stale, live, other_host, unmarked):
        path.write_bytes(b"half a model")
    assert ModelStore(root=str(tmp_path / "models")).folder("illicit_classifier") == folder
    assert not stale.exists()
    assert live.exists() and other_host.exists() and unmarked.exists()
