"""Scores for every address: calibrated probability, decision, band, and reasons on both sides
(raising and lowering the risk) in words and as records with their weight in probability."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from eth_assets.models.ml.classifier import IllicitModel
from eth_assets.models.ml.explain import REASON_TYPE, Reason, explain_rows, top_reasons
from eth_assets.models.ml.illicit_type import IllicitTypeModel
from eth_assets.scores.snapshot import SCORE_SCHEMA, SCORED_COLUMNS

NO_ACTIVITY_BAND = "no activity"


def scored_frame(columns: dict[str, object]) -> pl.DataFrame:
    """The scorer's columns in the snapshot schema's order and dtypes."""
    frame = pl.DataFrame(columns)
    return frame.select(pl.col(name).cast(SCORE_SCHEMA[name]) for name in SCORED_COLUMNS)


def shap_in_points(
    model: IllicitModel, frame: pl.DataFrame, probability: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values per row and feature in log-odds, and the same in probability: each row's
    distance from the base score (the calibrated probability of CatBoost's expected value) split
    in proportion to its SHAP values, so a feature's points carry its SHAP value's sign and all
    points of a row add up to probability − base."""
    values = model.model.get_feature_importance(model.pool(frame), type="ShapValues")
    shap, base = values[:, :-1], values[:, -1]
    base_probability = model.calibration.calibrate(1.0 / (1.0 + np.exp(-base)))
    total = shap.sum(axis=1)
    distance = np.asarray(probability, dtype=float) - base_probability
    scale = np.divide(distance, total, out=np.zeros_like(total), where=np.abs(total) > 1e-12)
    return shap, shap * scale[:, None]


def reason_columns(found: list[list[Reason]]) -> dict[str, pl.Series]:
    """`reasons` (sentences), `reason_features` and `reason_details` (records) per row."""
    return {
        "reasons": pl.Series([[r.sentence() for r in rs] for rs in found], dtype=pl.List(pl.Utf8)),
        "reason_features": pl.Series(
            [[r.feature for r in rs] for rs in found], dtype=pl.List(pl.Utf8)
        ),
        "reason_details": pl.Series(
            [[r.as_dict() for r in rs] for rs in found], dtype=pl.List(REASON_TYPE)
        ),
    }


def _intervals(scores: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The calibrated probability's interval, or (p, p) for a model that gives none."""
    probability = scores["probability"].to_numpy()
    if "probability_low" in scores.columns:
        return scores["probability_low"].to_numpy(), scores["probability_high"].to_numpy()
    return probability, probability


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
    shap, points = shap_in_points(model, part, scores["probability"].to_numpy())
    cleaned = model.cleaning.apply(part, keep=())
    values = {name: cleaned[name].to_numpy() for name in model.features}
    explained = explain_rows(
        shap, model.features, values, known_illicit[scored_rows], reasons, points
    )
    n = frame.height
    probability, raw = np.full(n, np.nan), np.full(n, np.nan)
    low, high = np.full(n, np.nan), np.full(n, np.nan)
    flagged = np.zeros(n, dtype=bool)
    band = np.full(n, NO_ACTIVITY_BAND, dtype=object)
    found: list[list[Reason]] = [[] for _ in range(n)]
    probability[scored_rows] = scores["probability"].to_numpy()
    raw[scored_rows] = scores["raw_probability"].to_numpy()
    low[scored_rows], high[scored_rows] = _intervals(scores)
    flagged[scored_rows] = scores["is_flagged"].to_numpy()
    band[scored_rows] = scores["band"].to_numpy()
    for row, reasons_of_row in zip(scored_rows, explained, strict=True):
        found[row] = reasons_of_row
    types = illicit_types(type_model, frame, flagged)
    return scored_frame(
        {
            "address": frame["address"],
            "has_activity": active,
            "probability": pl.Series(probability).fill_nan(None),
            "probability_low": pl.Series(low).fill_nan(None),
            "probability_high": pl.Series(high).fill_nan(None),
            "raw_probability": pl.Series(raw).fill_nan(None),
            "is_flagged": flagged,
            "band": band.astype(str),
            "illicit_type": types["illicit_type"],
            "illicit_type_probability": types["illicit_type_probability"],
            "threshold": np.full(n, model.calibration.threshold),
            **reason_columns(found),
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
    probability = model.score(row)["probability"].to_numpy()
    shap, points = shap_in_points(model, row, probability)
    cleaned = model.cleaning.apply(row, keep=())
    values = [cleaned[name][0] for name in model.features]
    return top_reasons(
        shap[0], model.features, values, populations, illicit_populations, count, points[0]
    )


@dataclass(frozen=True)
class Populations:
    """Cleaned feature values of the scored (active) addresses, of the known illicit ones among
    them and of the others: what a reason's percentiles and medians are measured against."""

    all: dict[str, np.ndarray]
    illicit: dict[str, np.ndarray]
    others: dict[str, np.ndarray] = field(default_factory=dict)


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
    illicit = frame["known_illicit"].to_numpy().astype(bool)
    values = {name: frame[name].to_numpy().astype(float) for name in frame.columns}
    values.pop("known_illicit")
    return Populations(
        all={name: np.sort(v) for name, v in values.items()},
        illicit={name: np.sort(v[illicit]) for name, v in values.items()},
        others={name: np.sort(v[~illicit]) for name, v in values.items()},
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
    shap, points = shap_in_points(model, frame, scores["probability"].to_numpy())
    cleaned = model.cleaning.apply(frame, keep=())
    found = []
    for row in range(frame.height):
        values = [cleaned[name][row] for name in model.features]
        found.append(
            top_reasons(
                shap[row],
                model.features,
                values,
                populations.all,
                populations.illicit,
                reasons,
                points[row],
                populations.others,
            )
        )
    low, high = _intervals(scores)
    return scored_frame(
        {
            "address": frame["address"],
            "has_activity": np.ones(frame.height, dtype=bool),
            "probability": scores["probability"],
            "probability_low": low,
            "probability_high": high,
            "raw_probability": scores["raw_probability"],
            "is_flagged": scores["is_flagged"],
            "band": scores["band"],
            "illicit_type": types["illicit_type"],
            "illicit_type_probability": types["illicit_type_probability"],
            "threshold": np.full(frame.height, model.calibration.threshold),
            **reason_columns(found),
        }
    )
