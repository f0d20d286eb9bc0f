"""The champion rule: when a newly registered model may take the registry's `champion` alias.

Plain code (no Dagster, no MLflow): the tracker's registry methods decide through it, and the
classifier only passes its score and floor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eth_assets.resources.tracking import RegisteredVersion

GATE_METRIC = "cv_roc_auc"  # the run metric a champion is compared on


@dataclass(frozen=True)
class GateDecision:
    """Whether a new model may become champion, against which champion, and why not."""

    passed: bool
    champion_auc: float | None
    reason: str  # empty when it passed
    score: float = float("nan")  # the new model's cv_roc_auc
    floor: float = float("nan")

    def decision(self, version: int) -> str:
        """What the gate did with registered `version`, in a sentence for tags and metadata."""
        if self.passed:
            return f"version {version} becomes champion"
        return f"version {version} stays a candidate: {self.reason}"


def decide_champion(
    cv_auc: float, floor: float, champion: RegisteredVersion | None
) -> GateDecision:
    """The champion gate: the CV ROC-AUC reaches `floor` and the champion's (no champion: the
    floor alone). A champion without a recorded `cv_roc_auc` cannot be compared: not passed."""
    champion_auc = champion.metrics.get(GATE_METRIC) if champion else None

    def decided(passed: bool, reason: str = "") -> GateDecision:
        return GateDecision(passed, champion_auc, reason, cv_auc, floor)

    if cv_auc < floor:
        return decided(False, f"CV ROC-AUC {cv_auc:.4f} below the floor {floor}")
    if champion is None:
        return decided(True)
    if champion_auc is None:
        return decided(
            False,
            f"the champion (version {champion.version}) has no {GATE_METRIC} to compare with: "
            "log it on its run or move the alias by hand",
        )
    if cv_auc < champion_auc:
        return decided(
            False,
            f"CV ROC-AUC {cv_auc:.4f} below the champion's {champion_auc:.4f} "
            f"(version {champion.version})",
        )
    return decided(True)
