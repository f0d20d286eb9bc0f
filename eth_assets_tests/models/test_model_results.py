"""Plain parts of the model results: metric names built from evaluation tables and candidate
clusterings, the champion decision in words, and the label-list guard."""

from pathlib import Path

import polars as pl
import pytest

from eth_assets.models.champion import decide_champion
from eth_assets.models.evaluation_results import flat_metrics
from eth_assets.models.illicit_type_results import read_label_lists
from eth_assets.models.profile_results import candidate_metrics
from eth_assets.resources.tracking import RegisteredVersion


def _row(subset: str, model: float) -> dict[str, object]:
    return {
        "subset": subset,
        "model_roc_auc": model,
        "date_only_roc_auc": 0.6,
        "size_only_roc_auc": 0.55,
        "normal": 90,
        "illicit": 10,
    }


def test_flat_metrics_name_the_known_subsets_and_skip_the_others() -> None:
    table = pl.DataFrame(
        [
            _row("all accounts", 0.9),
            _row("era-matched (first-activity quarter)", 0.8),
            _row("a subset without a stable name", 0.1),
        ]
    )
    metrics = flat_metrics(table, "within_")
    assert metrics["within_all_model_roc_auc"] == 0.9
    assert metrics["within_era_matched_model_roc_auc"] == 0.8
    assert metrics["within_era_matched_date_only_roc_auc"] == 0.6
    assert metrics["within_all_illicit"] == 10
    assert len(metrics) == 2 * 5


def test_candidate_metrics_name_set_method_and_k() -> None:
    candidates = pl.DataFrame(
        {
            "feature_set": ["behaviour"],
            "method": ["kmeans"],
            "k": [4],
            "silhouette": [0.31],
            "silhouette_with_inactive": [0.52],
        }
    )
    assert candidate_metrics(candidates) == {
        "silhouette_behaviour_kmeans_k4": 0.31,
        "silhouette_with_inactive_behaviour_kmeans_k4": 0.52,
    }


def test_the_decision_names_the_version_and_the_reason() -> None:
    champion = RegisteredVersion("eth_assets.illicit_classifier", 3, "run", {"cv_roc_auc": 0.97})
    worse = decide_champion(0.95, 0.8, champion)
    assert (worse.score, worse.floor, worse.champion_auc) == (0.95, 0.8, 0.97)
    assert worse.decision(4) == (
        "version 4 stays a candidate: CV ROC-AUC 0.9500 below the champion's 0.9700 (version 3)"
    )
    assert decide_champion(0.98, 0.8, champion).decision(4) == "version 4 becomes champion"


def test_missing_label_lists_say_what_to_materialize(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="materialize illicit_labels first"):
        read_label_lists(tmp_path / "illicit_labels.parquet")
