"""Does a model meet data from the kind of store it was trained on?

A store of chosen accounts' histories (the real sample, phish_2022) sees a counterparty only
through its transactions with those accounts; a full-chain store (the simulated chain, BigQuery,
a full export) sees all of them. Features that count what the store holds take other values on
the other kind (docs/features.md#store-dependent-features): scoring across kinds is a warning
with the numbers, never silent. Plain functions, no Dagster.
"""

from __future__ import annotations

import polars as pl

from eth_assets.features.feature_tables import STORE_DEPENDENT_COLUMNS

# Features compared between training and scoring when the store kinds differ.
COMPARED = (*STORE_DEPENDENT_COLUMNS, "gas_price_vs_day", "unique_received_from_addresses")


def store_kind_problem(
    model_kind: str, data_kind: str, training_means: dict[str, float], data: pl.DataFrame
) -> tuple[str | None, pl.DataFrame]:
    """Why scoring `data` (from a `data_kind` store) with a model trained on a `model_kind` store
    deserves a warning (None when the kinds agree), and a table of the compared features' means
    in training and here."""
    rows = [
        {
            "feature": column,
            "training_mean": float(training_means[column]),
            "scoring_mean": float(data[column].cast(pl.Float64).mean() or 0.0),
        }
        for column in COMPARED
        if column in training_means and column in data.columns
    ]
    table = pl.DataFrame(
        rows, schema={"feature": pl.Utf8, "training_mean": pl.Float64, "scoring_mean": pl.Float64}
    )
    if not model_kind:
        return (
            f"the model does not record the kind of store it was trained on; the data comes "
            f"from a store of {data_kind or 'unknown kind'}: retrain it to record it",
            table,
        )
    if model_kind == data_kind:
        return None, table
    shifts = ", ".join(
        f"{r['feature']} {r['training_mean']:.3g} in training, {r['scoring_mean']:.3g} here"
        for r in rows
    )
    return (
        f"the model was trained on a store of {model_kind} and scores a store of {data_kind}: "
        f"features that count what the store holds take other values ({shifts or 'none used'}); "
        "its scores are outside what it was validated on",
        table,
    )
