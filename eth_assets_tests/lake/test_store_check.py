"""Scoring a store of another kind than the model was trained on is named, with the numbers."""

from __future__ import annotations

import polars as pl

from eth_assets.features.feature_tables import CHOSEN_HISTORIES, FULL_CHAIN
from eth_assets.lake.store_check import store_kind_problem

MEANS = {"median_sender_activity": 1.5, "gas_price_vs_day": 1.0, "sent_tnx": 4.0}
DATA = pl.DataFrame({"median_sender_activity": [40.0, 60.0], "gas_price_vs_day": [0.9, 1.1]})


def test_the_same_kind_is_no_problem() -> None:
    problem, table = store_kind_problem(FULL_CHAIN, FULL_CHAIN, MEANS, DATA)
    assert problem is None
    assert table["feature"].to_list() == ["median_sender_activity", "gas_price_vs_day"]


def test_a_model_of_chosen_histories_scoring_the_full_chain_is_named_with_the_numbers() -> None:
    problem, table = store_kind_problem(CHOSEN_HISTORIES, FULL_CHAIN, MEANS, DATA)
    assert problem is not None
    assert "trained on a store of chosen histories and scores a store of full chain" in problem
    assert "median_sender_activity 1.5 in training, 50 here" in problem
    row = table.filter(pl.col("feature") == "median_sender_activity").row(0, named=True)
    assert (row["training_mean"], row["scoring_mean"]) == (1.5, 50.0)


def test_a_model_that_does_not_record_its_store_kind_is_a_problem_too() -> None:
    problem, _ = store_kind_problem("", FULL_CHAIN, MEANS, DATA)
    assert problem is not None and "does not record" in problem
