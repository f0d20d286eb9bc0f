"""The type-of-illicit-activity model between reading and finishing: trained on the illicit
training accounts with the label lists' categories, saved, measured per type, and returned as a
ModelResult for the finishing step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from eth_assets.common.markdown import markdown_table
from eth_assets.models.dataset_rules import first_activity, model_rules, rules_of_fit, training_rows
from eth_assets.models.model_result import ModelFile, ModelResult

if TYPE_CHECKING:
    from eth_assets.models.illicit_type_assets import IllicitTypeConfig
    from eth_assets.models.ml.illicit_type import IllicitTypeRun

ASSET = "illicit_type_model"


def read_label_lists(path: Path) -> pl.DataFrame:
    """The stored label lists (with their categories); an error saying what to materialize."""
    if not path.is_file():
        raise FileNotFoundError(f"no label lists at {path}: materialize illicit_labels first")
    return pl.read_parquet(path)


def first_activity_days(training: pl.DataFrame, frame: pl.DataFrame) -> np.ndarray | None:
    """Each row's first activity (days since the epoch) for the date-only baseline, or None
    when the `training_set` table predates its `first_seen` column."""
    return first_activity(training, frame) if "first_seen" in training.columns else None


def rounded(frame: pl.DataFrame) -> str:
    """A Markdown table with floats to three decimals."""
    return markdown_table(frame.with_columns(pl.col(pl.Float64).round(3)))


def type_params(
    run: IllicitTypeRun, config: IllicitTypeConfig, catboost: dict[str, Any]
) -> dict[str, Any]:
    """The run's parameters: the config, CatBoost's, what was learned and left out, and why."""
    from eth_assets.models.ml.illicit_type import TYPES

    return {
        **config.model_dump(),
        **{f"catboost_{k}": v for k, v in catboost.items()},
        "types": ",".join(run.learned) or "none",
        "too_small": ",".join(f"{t}:{n}" for t, n in run.too_small.items()) or "none",
        "precedence": " > ".join(TYPES),
        **{f"left_out_{k}": v for k, v in run.left_out().items()},
        "why_no_model": run.model.why_not or "",
    }


def learn_illicit_types(
    flagged: pl.DataFrame,
    training: pl.DataFrame,
    fit: dict[str, str],
    label_lists: pl.DataFrame,
    config: IllicitTypeConfig,
    folder: Path,
) -> ModelResult:
    """The most likely type of illicit activity of the illicit training accounts, learned from
    the label lists' categories on the classifier's features (store-dependent ones left out)."""
    from eth_assets.models.ml.illicit_type import LEFT_OUT, TypeSettings, train_illicit_type
    from eth_assets.models.ml.illicit_type import markdown as type_markdown

    frame, labels, _ = training_rows(flagged, training)
    illicit = frame.filter(pl.Series(labels == 1))
    settings = TypeSettings(config.min_examples, config.folds, config.seed, config.threads)
    run = train_illicit_type(
        illicit,
        label_lists,
        model_rules(rules_of_fit(fit), store_dependent=False),
        settings,
        first_activity_days(training, illicit),
        folder / "confusion.png",
    )
    model_path = run.model.save(folder / "model.pkl")
    tables = [folder / "confusion.csv", folder / "per_type.csv", folder / "summary.md"]
    run.confusion.write_csv(tables[0])
    run.per_type.write_csv(tables[1])
    tables[2].write_text(type_markdown(run) + "\n", encoding="utf-8")
    too_small = pl.DataFrame(
        {"type": list(run.too_small), "accounts": list(run.too_small.values())},
        schema={"type": pl.Utf8, "accounts": pl.Int64},
    )
    left_out = pl.DataFrame(
        {"reason": [LEFT_OUT[k] for k in run.left_out()], "accounts": list(run.left_out().values())}
    )
    metrics = run.metrics()
    return ModelResult(
        experiment=ASSET,
        run_name=f"{len(run.learned)} types" if run.learned else "no model",
        as_of=fit["as_of"],
        source=fit["chain_source"],
        tables={
            "illicit_type_folds": run.folds,
            "illicit_type_metrics": run.per_type,
            "illicit_type_confusion": run.confusion,
        },
        params=type_params(run, config, settings.params),
        metrics=metrics,
        plots={"confusion": run.plot} if run.plot else {},
        artifacts={"tables": tables},
        model=ModelFile(model_path),
        row_count=run.model.trained_rows,
        metadata={
            key: float(metrics.get(key, float("nan")))
            for key in ("type_macro_f1", "type_accuracy", "type_majority_accuracy")
        }
        | {"no_model": run.model.why_not or "a model was learned"},
        markdown={
            "per_type": rounded(run.per_type),
            "baselines": rounded(run.baselines),
            "too_small_to_learn": markdown_table(too_small),
            "left_out": markdown_table(left_out),
            "categories": markdown_table(run.types.by_category.head(40)),
            "confusion": markdown_table(run.confusion),
        },
    )
