"""Scores for every address: calibrated probability, decision, band and reasons in words."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from eth_assets.ml.classifier import IllicitModel
from eth_assets.ml.explain import Reason, explain_rows, top_reasons
from eth_assets.ml.illicit_type import IllicitTypeModel

NO_ACTIVITY_BAND = "no activity"


def illicit_types(
    type_model: IllicitTypeModel | None, frame: pl.DataFrame, flagged: np.ndarray
) -> pl.DataFrame:
    """`illicit_type` and `illicit_type_probability` of each row of `frame`: the type model's
    most likely type for the flagged rows, NULL for the others (and for all without a model)."""
    types = pl.Series("illicit_type", [None] * frame.height, dtype=pl.Utf8)
    probability = np.full(frame.height, np.nan)
    rows = np.flatnonzero(flagged)
    if type_model is not None and type_model.classifier is not None and len(rows):
        predicted = type_model.predict(frame[rows])
        types = types.scatter(rows, predicted["illicit_type"])
        probability[rows] = predicted["illicit_type_probability"].to_numpy()
    return pl.DataFrame([types, pl.Series("illicit_type_probability", probability).fill_nan(None)])


def score_addresses(
    model: IllicitModel,
    frame: pl.DataFrame,
    active: np.ndarray,
    known_illicit: np.ndarray,
    reasons: int = 3,
    type_model: IllicitTypeModel | None = None,
) -> pl.DataFrame:
    """One row per row of `frame` (address + the features the model's cleaning needs).

    Active addresses get the calibrated probability, the decision at the model's threshold, the
    risk band and the top `reasons` SHAP reasons as sentences, with percentiles among the
    scored (active) addresses and among the known illicit ones (`known_illicit`); flagged ones
    the most likely type of illicit activity (`type_model`). Addresses without activity get
    the band "no activity" and no behavioural score.
    """
    scored_rows = np.flatnonzero(active)
    part = frame[scored_rows]
    scores = model.score(part)
    shap = model.shap_values(part)
    cleaned = model.cleaning.apply(part, keep=())
    values = {name: cleaned[name].to_numpy() for name in model.features}
    explained = explain_rows(shap, model.features, values, known_illicit[scored_rows], reasons)
    n = frame.height
    probability = np.full(n, np.nan)
    raw = np.full(n, np.nan)
    flagged = np.zeros(n, dtype=bool)
    band = np.full(n, NO_ACTIVITY_BAND, dtype=object)
    sentences: list[list[str]] = [[] for _ in range(n)]
    features: list[list[str]] = [[] for _ in range(n)]
    probability[scored_rows] = scores["probability"].to_numpy()
    raw[scored_rows] = scores["raw_probability"].to_numpy()
    flagged[scored_rows] = scores["is_flagged"].to_numpy()
    band[scored_rows] = scores["band"].to_numpy()
    for row, found in zip(scored_rows, explained, strict=True):
        sentences[row] = [reason.sentence() for reason in found]
        features[row] = [reason.feature for reason in found]
    types = illicit_types(type_model, frame, flagged)
    return pl.DataFrame(
        {
            "address": frame["address"],
            "has_activity": active,
            "probability": pl.Series(probability).fill_nan(None),
            "raw_probability": pl.Series(raw).fill_nan(None),
            "is_flagged": flagged,
            "band": band.astype(str),
            "illicit_type": types["illicit_type"],
            "illicit_type_probability": types["illicit_type_probability"],
            "threshold": np.full(n, model.calibration.threshold),
            "reasons": pl.Series(sentences, dtype=pl.List(pl.Utf8)),
            "reason_features": pl.Series(features, dtype=pl.List(pl.Utf8)),
        }
    )


def explain_one(
    model: IllicitModel,
    row: pl.DataFrame,
    populations: dict[str, np.ndarray],
    illicit_populations: dict[str, np.ndarray],
    count: int = 3,
) -> list[Reason]:
    """The top reasons of one address (a one-row frame): SHAP of that row only, percentiles
    against precomputed populations (cleaned feature values of the scored and of the known
    illicit addresses). What a page or an API answers per request."""
    shap = model.shap_values(row)[0]
    cleaned = model.cleaning.apply(row, keep=())
    values = [cleaned[name][0] for name in model.features]
    return top_reasons(shap, model.features, values, populations, illicit_populations, count)


@dataclass(frozen=True)
class Populations:
    """Cleaned feature values of the scored (active) addresses and of the known illicit ones
    among them: what a reason's percentiles are measured against."""

    all: dict[str, np.ndarray]
    illicit: dict[str, np.ndarray]


def population_frame(
    model: IllicitModel, frame: pl.DataFrame, active: np.ndarray, known_illicit: np.ndarray
) -> pl.DataFrame:
    """The numeric model features as the model sees them (cleaned) for the active rows of
    `frame`, with `known_illicit`: the populations `score_addresses` measured percentiles
    against, in a form that can be published beside the scores."""
    rows = np.flatnonzero(active)
    cleaned = model.cleaning.apply(frame[rows], keep=())
    numeric = [name for name in model.features if cleaned[name].dtype.is_numeric()]
    return cleaned.select(numeric).with_columns(
        known_illicit=pl.Series(known_illicit[rows].astype(bool))
    )


def populations_from_frame(frame: pl.DataFrame) -> Populations:
    """`Populations` from a `population_frame`, each sorted once."""
    illicit = frame["known_illicit"].to_numpy()
    values = {name: frame[name].to_numpy().astype(float) for name in frame.columns}
    values.pop("known_illicit")
    return Populations(
        all={name: np.sort(v) for name, v in values.items()},
        illicit={name: np.sort(v[illicit]) for name, v in values.items()},
    )


def score_new_addresses(
    model: IllicitModel,
    frame: pl.DataFrame,
    populations: Populations,
    reasons: int = 3,
    type_model: IllicitTypeModel | None = None,
) -> pl.DataFrame:
    """Scores of addresses outside the scored population (rows of `frame`: address and the
    features, all with activity): the same columns as `score_addresses`, with reasons whose
    percentiles are measured against the published `populations`."""
    if frame.height == 0:
        return score_addresses(model, frame, np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
    scores = model.score(frame)
    types = illicit_types(type_model, frame, scores["is_flagged"].to_numpy())
    shap = model.shap_values(frame)
    cleaned = model.cleaning.apply(frame, keep=())
    sentences, features = [], []
    for row in range(frame.height):
        values = [cleaned[name][row] for name in model.features]
        found = top_reasons(
            shap[row], model.features, values, populations.all, populations.illicit, reasons
        )
        sentences.append([reason.sentence() for reason in found])
        features.append([reason.feature for reason in found])
    return pl.DataFrame(
        {
            "address": frame["address"],
            "has_activity": np.ones(frame.height, dtype=bool),
            "probability": scores["probability"],
            "raw_probability": scores["raw_probability"],
            "is_flagged": scores["is_flagged"],
            "band": scores["band"],
            "illicit_type": types["illicit_type"],
            "illicit_type_probability": types["illicit_type_probability"],
            "threshold": np.full(frame.height, model.calibration.threshold),
            "reasons": pl.Series(sentences, dtype=pl.List(pl.Utf8)),
            "reason_features": pl.Series(features, dtype=pl.List(pl.Utf8)),
        }
    )
