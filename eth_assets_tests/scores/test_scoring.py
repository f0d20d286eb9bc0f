"""Reasons with direction and weight, on a hand-built model whose directions are known: one
feature that rises with the illicit class and one that falls with it."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from eth_assets.models.ml.classifier import (
    ClassifierSettings,
    stratified_folds,
    train_illicit_classifier,
)
from eth_assets.models.ml.cleaning import CleaningRules
from eth_assets.models.ml.explain import LOWERS, RAISES
from eth_assets.scores.scoring import (
    population_frame,
    populations_from_frame,
    score_addresses,
    score_new_addresses,
    shap_in_points,
)

RULES = CleaningRules(
    numeric_columns=("total_ether_received", "active_days", "noise"),
    may_be_negative=("noise",),
    max_zero_share=0.99,
)
QUICK = ClassifierSettings(
    grid={"depth": [3], "learning_rate": [0.2], "iterations": [80], "border_count": [32]},
    folds=4,
)


@pytest.fixture(scope="module")
def model_and_frame():
    """Illicit accounts receive more ether and live fewer days than normal ones."""
    rng = np.random.default_rng(3)
    rows = 600
    labels = rng.integers(0, 2, rows)
    frame = pl.DataFrame(
        {
            "address": [f"0x{i:040x}" for i in range(rows)],
            "total_ether_received": np.exp(labels * 2.0 + rng.normal(0, 0.7, rows)),
            "active_days": np.exp(3.0 - labels * 2.0 + rng.normal(0, 0.7, rows)),
            "noise": rng.normal(0, 1, rows),
        }
    )
    run = train_illicit_classifier(
        frame, labels, stratified_folds(labels, 4, 0), RULES, QUICK,
        {"medium": 0.25, "critical": 0.9}, "2021-01-01", "test", paper_folds=(4,),
    )  # fmt: skip
    return run.model, frame, labels


def _probe(received: float, days: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "address": ["0x" + "ab" * 20],
            "total_ether_received": [received],
            "active_days": [days],
            "noise": [0.0],
        }
    )


def test_points_carry_the_shap_sign_and_add_up_to_the_distance_from_the_base(
    model_and_frame,
) -> None:
    model, frame, _ = model_and_frame
    probability = model.score(frame)["probability"].to_numpy()
    shap, points = shap_in_points(model, frame, probability)
    assert np.all(np.sign(points[np.abs(points) > 1e-12]) == np.sign(shap[np.abs(points) > 1e-12]))
    base = probability - points.sum(axis=1)
    assert np.allclose(base, base[0])  # one base score for every row


def test_an_illicit_looking_address_names_what_raises_and_what_lowers(model_and_frame) -> None:
    model, frame, labels = model_and_frame
    populations = populations_from_frame(
        population_frame(model, frame, np.ones(frame.height, bool), labels.astype(bool))
    )
    # Much ether received (illicit-like) but a long life (normal-like).
    scored = score_new_addresses(model, _probe(40.0, 60.0), populations, reasons=2)
    details = scored["reason_details"][0].to_list()
    by_feature = {d["feature"]: d for d in details}
    assert by_feature["total_ether_received"]["direction"] == RAISES
    assert by_feature["total_ether_received"]["points"] > 0
    assert by_feature["active_days"]["direction"] == LOWERS
    assert by_feature["active_days"]["points"] < 0
    assert by_feature["total_ether_received"]["shown"] == "40 ETH"
    assert by_feature["active_days"]["shown"] == "60.0 days"
    # raising reasons come first, then lowering ones
    directions = [d["direction"] for d in details]
    assert directions == sorted(directions, key=lambda d: d != RAISES)
    sentence = scored["reasons"][0].to_list()[0]
    assert (
        sentence.startswith("raises the risk by ") and "ether received in all: 40 ETH" in sentence
    )
    assert "known illicit: median" in sentence and "others: median" in sentence


def test_a_normal_looking_address_has_its_reasons_lowering_the_risk(model_and_frame) -> None:
    model, frame, labels = model_and_frame
    scored = score_addresses(
        model, frame, np.ones(frame.height, bool), labels.astype(bool), reasons=3
    )
    low = scored.sort("probability").row(0, named=True)
    assert low["reason_details"], "the least risky address has reasons"
    lowering = [d for d in low["reason_details"] if d["direction"] == LOWERS]
    assert {d["feature"] for d in lowering} >= {"total_ether_received", "active_days"}
    assert all(d["points"] < 0 for d in lowering)
    assert low["probability_low"] <= low["probability"] <= low["probability_high"]
