"""Published feature files: every known trap handled, on a hand-made file and the real one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dagster import DagsterInstance, materialize

from eth_assets.features.reference_assets import published_benchmark
from eth_assets.features.reference_files import read_published_features
from eth_assets.resources.tracking import MlflowTracker
from eth_assets.resources.warehouse import DuckDBWarehouse

# Kaggle-style: an unnamed row number, `Index` restarting per class, spaces in headers, a blank
# "no token" for the illicit rows, a repeated address and one with conflicting labels.
HAND_MADE = """,Index,Address,FLAG,Sent tnx, Total ERC20 tnxs, ERC20 most rec token type
0,1,0xAA,0,3,0,0
1,2,0xbb,0,1,2,DAI
2,1,0xcc,1,5, , 
3,2,0xdd,1,2,1,Blockwell say NOTSAFU
4,3,0xbb,0,1,2,DAI
5,4,0xee,0,1,0,0
6,3,0xee,1,1,0,0
"""


def test_traps_of_a_hand_made_file(tmp_path: Path) -> None:
    path = tmp_path / "published.csv"
    path.write_text(HAND_MADE)
    data = read_published_features(path)
    assert data.frame.columns == [
        "address",
        "sent_tnx",
        "total_erc20_tnxs",
        "erc20_most_rec_token_type",
    ]
    assert data.frame["address"].to_list() == ["0xaa", "0xbb", "0xcc", "0xdd"]  # 0xee conflicts
    assert data.labels.tolist() == [0, 0, 1, 1]
    assert data.frame["total_erc20_tnxs"].to_list() == [0, 2, 0, 1]  # blank read as 0
    assert data.frame["erc20_most_rec_token_type"].to_list() == [None, "DAI", None, None]
    report = dict(data.report)
    assert "['Index', 'Unnamed: 0']" in report["row numbers"]
    assert report["empty cells"].startswith("1 empty numeric cells in illicit rows and 0")
    assert report["repeated addresses"].startswith("1 repeats dropped; 1 addresses")
    assert report["label-broadcast token names"].startswith("1 token-name cells of illicit")


def test_a_file_without_labels_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nolabel.csv"
    path.write_text("Address,Sent_tnx\n0xaa,1\n")
    with pytest.raises(ValueError, match="no `flag` column"):
        read_published_features(path)


@pytest.mark.e2e  # a whole published file through CatBoost's cross-validation (about 20 s)
def test_complete_csv_benchmark_is_honest(shared_data: Path, tmp_path: Path) -> None:
    """Farrugia's Complete.csv through the asset: the encoding leak is gone (no empty cell is
    left to tell the classes apart) and CV accuracy stays below the leak level."""
    complete = shared_data / "farrugia2020" / "Complete.csv"
    data = read_published_features(complete)
    assert np.bincount(data.labels).tolist() == [2497, 2178]
    result = materialize(
        [published_benchmark],
        resources={
            "warehouse": DuckDBWarehouse(path=str(tmp_path / "w.duckdb")),
            "tracker": MlflowTracker(
                tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                artifact_root=str(tmp_path / "artifacts"),
            ),
        },
        instance=DagsterInstance.ephemeral(),
        run_config={
            "ops": {"published_benchmark": {"config": {"files": [str(complete)], "folds": 5}}}
        },
    )
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    accuracy = check.metadata["highest_accuracy"].value
    assert 0.94 < accuracy <= 0.985
