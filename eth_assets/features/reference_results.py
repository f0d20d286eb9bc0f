"""The classifier of this project cross-validated on published feature files (the benchmark most
papers report on), between reading the files and finishing, returned as a ModelResult."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from eth_assets.common.markdown import markdown_table
from eth_assets.features.feature_tables import CATEGORICAL_COLUMNS, NUMERIC_FEATURE_COLUMNS
from eth_assets.features.reference_files import read_published_features
from eth_assets.models.ml.cleaning import CleaningRules
from eth_assets.models.model_result import Check, ModelResult

LEAK_CHECK = "published_benchmark_below_leak_level"
FILE_METRICS = ("accuracy", "roc_auc", "f1")


def existing_files(paths: Sequence[Path]) -> list[Path]:
    """`paths`, each an existing file; else an error naming the missing ones and the fix."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"published feature files not found: {missing}; give existing files in the "
            "`files` config or set ETH_ASSETS_SHARED_DATA"
        )
    return list(paths)


def published_benchmark_result(
    paths: Sequence[Path],
    grid: str,
    folds: int,
    seed: int,
    leak_level: float,
    params: Mapping[str, object],
) -> ModelResult:
    """Stratified CV of the cleaning and CatBoost on each file (its traps handled), one row per
    file with class counts and the top features; the leak check warns above `leak_level`."""
    from eth_assets.models.ml.classifier import GRIDS, ClassifierSettings, cross_validate

    settings = ClassifierSettings(grid=GRIDS[grid], folds=folds, seed=seed)
    rows, reports = [], []
    for path in existing_files(paths):
        data = read_published_features(path)
        numeric = tuple(c for c in NUMERIC_FEATURE_COLUMNS if c in data.frame.columns)
        categorical = tuple(c for c in CATEGORICAL_COLUMNS if c in data.frame.columns)
        rules = CleaningRules(numeric, categorical, ("total_ether_balance",))
        cv = cross_validate(data.frame, data.labels, rules, settings)
        summary = cv.summary()
        rows.append(
            {
                "file": path.name,
                "normal": int((data.labels == 0).sum()),
                "illicit": int((data.labels == 1).sum()),
                **{m: summary[m] for m in ("accuracy", "accuracy_sd", "roc_auc", "roc_auc_sd")},
                "f1": summary["f1"],
                "seconds": cv.seconds,
                "top_features": ", ".join(cv.importance.head(5)["feature"].to_list()),
            }
        )
        reports += [{"file": path.name, "trap": t, "handled": h} for t, h in data.report]
    table = pl.DataFrame(rows)
    worst = float(table["accuracy"].max())
    listed = ", ".join(str(p) for p in paths)
    metrics = {
        f"{row['file'].split('.')[0].lower()}_{m}": float(row[m])
        for row in rows
        for m in FILE_METRICS
    }
    return ModelResult(
        experiment="published_benchmark",
        run_name=f"{len(paths)} files",
        source=listed,
        tables={"published_benchmark": table},
        params={**params, "files": listed},
        metrics=metrics,
        row_count=table.height,
        markdown={
            "results": markdown_table(table),
            "traps_handled": markdown_table(pl.DataFrame(reports)),
        },
        checks=[
            Check(
                LEAK_CHECK,
                passed=worst <= leak_level,
                metadata={"highest_accuracy": worst, "leak_level": leak_level},
                warn=True,
            )
        ],
    )
