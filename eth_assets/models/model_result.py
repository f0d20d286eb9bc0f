"""What a model asset produced, as plain data: the tables to store, what its MLflow run logs and
what the Dagster UI shows. Plain functions build it; `model_runs.finish` stores and logs it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

MODEL_FILE = "model.pkl"  # the asset's current model: what `model: local` scores with
CANDIDATE_FILE = "model.candidate.pkl"  # a new model until its gate decides
REJECTED_FOLDER = "rejected"  # the last model a gate rejected, kept for a look


@dataclass(frozen=True)
class Check:
    """The outcome of one asset check declared by the asset."""

    name: str
    passed: bool
    metadata: Mapping[str, object] = field(default_factory=dict)
    warn: bool = False  # a failure warns instead of erring
    description: str | None = None  # what is wrong, shown with a failure


@dataclass(frozen=True)
class ModelFile:
    """A model file to log with the run. Without `registered_name` it is only an artifact under
    `model/`; with it, a new registered version. With `champion_floor` too it is a candidate:
    the champion gate decides whether the alias moves to it and whether it becomes the local
    model file (else it is kept under rejected/), reported by the check `gate_check`."""

    path: Path
    registered_name: str = ""
    champion_floor: float | None = None
    gate_check: str = ""


@dataclass(frozen=True)
class ModelResult:
    """Everything a model asset hands to the finishing step.

    `experiment` names the MLflow experiment (`eth_assets/<experiment>`); empty: no run is
    tracked. `as_of` and `source` tag the run with the data it saw. `steps` are metrics logged
    at a step (a fold, an iteration). `artifacts` maps a run folder to files logged into it.
    `metadata` holds plain values (text, numbers, dicts), `markdown` text shown as Markdown,
    `paths` files shown as paths; plots are shown inline, as paths, and logged under plots/."""

    experiment: str = ""
    run_name: str = ""
    as_of: str | datetime = ""
    source: str = ""
    tables: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    params: Mapping[str, object] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    steps: Sequence[tuple[int, Mapping[str, float]]] = ()
    tags: Mapping[str, object] = field(default_factory=dict)
    plots: Mapping[str, Path] = field(default_factory=dict)
    artifacts: Mapping[str, Sequence[Path]] = field(default_factory=dict)
    model: ModelFile | None = None
    row_count: int | None = None
    metadata: Mapping[str, object] = field(default_factory=dict)
    markdown: Mapping[str, str] = field(default_factory=dict)
    paths: Mapping[str, Path] = field(default_factory=dict)
    checks: Sequence[Check] = ()
