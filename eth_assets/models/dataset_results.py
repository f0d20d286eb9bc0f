"""The cleaned dataset between reading and finishing: the features cleaned by the paper's
rules, checked complete, and returned as a ModelResult that stores the table, its fit and the
cleaning file only when the check passes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from eth_assets.common.markdown import markdown_table
from eth_assets.features.as_of import parse_as_of
from eth_assets.models.dataset_rules import PASS_THROUGH, cleaning_rules
from eth_assets.models.ml.cleaning import clean_dataset, unusable_cells
from eth_assets.models.model_result import Check, ModelResult

if TYPE_CHECKING:
    from eth_assets.models.dataset_assets import CleanFeaturesConfig

FIT_TABLE = "clean_features_fit"
COMPLETE_CHECK = "clean_features_complete"


def clean_features_result(
    flagged: pl.DataFrame,
    as_of: str,
    behaviour: bool,
    fit_of: dict[str, str],
    config: CleanFeaturesConfig,
    folder: Path,
) -> ModelResult:
    """Features with invalid values mean-imputed, mostly-zero columns dropped, one row each;
    `fit_of` names the chain source and Dagster run the fit records. The table, its fit and
    cleaning.json (in `folder`) are stored only when the completeness check passes."""
    rules = cleaning_rules(
        parse_as_of(as_of), config.max_zero_share, config.min_level_count, behaviour
    )
    dataset = clean_dataset(flagged, rules, keep=PASS_THROUGH)
    fit = pl.DataFrame(
        {
            "as_of": [as_of],
            "chain_source": [fit_of["chain_source"]],
            "cleaning": [dataset.cleaning.to_json()],
            "max_zero_share": [config.max_zero_share],
            "min_level_count": [config.min_level_count],
            "behaviour_features": [behaviour],
            "dagster_run_id": [fit_of["dagster_run_id"]],
        }
    )
    frame = dataset.frame
    missing = flagged["address"].n_unique() - frame["address"].n_unique()
    unusable = unusable_cells(frame, dataset.cleaning)
    passed = missing == 0 and unusable == 0 and frame.height == frame["address"].n_unique()
    saved = dataset.cleaning.save(folder / "cleaning.json") if passed else None
    report = dataset.report
    dropped = report.filter(pl.col("dropped") != "").select("column", "dropped")
    imputed = report.filter(pl.col("imputed") > 0).select(
        "column", "nan", "infinite", "negative", "above_bound", "imputed"
    )
    return ModelResult(
        tables={"clean_features": frame, FIT_TABLE: fit} if passed else {},
        row_count=frame.height,
        metadata={
            "rows_in": dataset.rows_in,
            "duplicates_removed": dataset.duplicates_removed,
            "rows_out": frame.height,
            "as_of": as_of,
            "behaviour_features": behaviour,
            "numeric_features": len(dataset.cleaning.numeric_features),
            "categorical_features": ", ".join(dataset.cleaning.categorical_features),
            "labelled_illicit": int(frame["is_labelled_illicit"].sum()),
            "without_activity": int((~frame["has_activity"]).sum()),
            "values_imputed": int(report["imputed"].sum()),
            "stored": passed,
        }
        | ({} if saved else {"cleaning": "not saved: the check failed"}),
        markdown={
            "imputed_by_column": markdown_table(imputed),
            "dropped_columns": markdown_table(dropped),
            "column_report": markdown_table(report),
        },
        paths={"cleaning": saved} if saved else {},
        checks=[
            Check(
                COMPLETE_CHECK,
                passed,
                {"addresses_missing": missing, "unusable_cells": unusable, "stored": passed},
            )
        ],
    )
