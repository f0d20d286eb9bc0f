"""Evaluations on labelled accounts the classifier never trained on, run on demand (like
published_benchmark): xblock_2019, where the classes overlap in time, and an out-of-time folder
(phish_2022 by default) scored by the champion with no retraining. Each figure stands beside the
first-activity-date and size baselines (docs/classifier.md#era)."""

import json
from pathlib import Path

import numpy as np
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field, field_validator

from eth_assets.features.as_of import parse_as_of
from eth_assets.features.feature_tables import read_provenance
from eth_assets.models.classifier_assets import REGISTERED_MODEL, illicit_classifier, training_set
from eth_assets.models.dataset_rules import first_activity, model_rules, rules_of_fit, training_rows
from eth_assets.models.model_runs import (
    at_least,
    fraction,
    mlflow_metadata,
    read_fit,
    read_flagged_features,
    read_table,
    replace_tables,
    run_tags,
)
from eth_assets.resources.tracking import CHAMPION, MlflowTracker
from eth_assets.resources.warehouse import WAREHOUSE_TAG, DuckDBWarehouse
from eth_assets.settings import market_gas_prices_file, shared_data_dir

OUT_OF_TIME_CHECK = "out_of_time_evaluation_auc_floor"


def _flat(table: pl.DataFrame, prefix: str) -> dict[str, float]:
    """MLflow metrics with stable names from an evaluate_scores table's first rows."""
    keys = {
        "all accounts": "all",
        "era-matched (first-activity quarter)": "era_matched",
        "era- and size-matched (quarter × size band)": "era_size_matched",
        "era-, size- and activity-matched (quarter × size band × activity band)": (
            "era_size_activity_matched"
        ),
    }
    metrics: dict[str, float] = {}
    for row in table.iter_rows(named=True):
        key = keys.get(row["subset"])
        if key is None:
            continue
        for scorer in ("model", "date_only", "size_only"):
            metrics[f"{prefix}{key}_{scorer}_roc_auc"] = row[f"{scorer}_roc_auc"]
        metrics[f"{prefix}{key}_normal"] = row["normal"]
        metrics[f"{prefix}{key}_illicit"] = row["illicit"]
    return metrics


class EraMatchedEvaluationConfig(Config):
    """The era-matched set and how to evaluate on it."""

    folder: str = Field(
        "", description="The xblock_2019 folder. Empty: $ETH_ASSETS_SHARED_DATA/xblock_2019."
    )
    folds: int = Field(5, description="Stratified CV folds within the set.")
    seed: int = Field(0, description="Seed of the folds and CatBoost.")
    threads: int = Field(2, description="CatBoost threads.")
    size_bands: int = Field(5, description="Bands of total ether received (pooled quantiles).")
    store_dependent_features: bool = Field(
        False, description="As illicit_classifier's: train with the store-dependent features."
    )

    check_counts = at_least(1, "threads", "size_bands")
    check_folds = at_least(2, "folds")


@asset(
    deps=[training_set],
    group_name="classifier",
    kinds={"catboost", "mlflow"},
    tags=WAREHOUSE_TAG,
    backfill_policy=BackfillPolicy.single_run(),
)
def era_matched_evaluation(
    context: AssetExecutionContext,
    config: EraMatchedEvaluationConfig,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker,
) -> MaterializeResult:
    """Behaviour or era, on xblock_2019: CV within the set and this data dir's model on its
    unseen accounts, on the features the set supports, beside date-only and size-only models."""
    from eth_assets.models.ml.classifier import ClassifierSettings
    from eth_assets.models.ml.era import first_activity_days
    from eth_assets.models.ml.held_out import held_out_evaluation, markdown, restricted_rules
    from eth_assets.models.xblock import SUPPORTED, UNSUPPORTED, read_xblock, xblock_features

    folder = Path(config.folder) if config.folder else shared_data_dir() / "xblock_2019"
    xblock = xblock_features(read_xblock(folder))
    with warehouse.connect(read_only=True) as con:
        flagged = read_flagged_features(con)
        training = read_table(con, "training_set", "training_set")
        fit = read_fit(con)
    frame, labels, _ = training_rows(flagged, training)
    rules = model_rules(rules_of_fit(fit), config.store_dependent_features)
    features = tuple(c for c in SUPPORTED if c in rules.numeric_columns)
    held = held_out_evaluation(
        xblock,
        xblock["label"].to_numpy().astype(int),
        first_activity_days(xblock["first_activity"]),
        ~xblock["in_raw_txns"].to_numpy().astype(bool),
        frame,
        labels,
        first_activity(training, frame),
        restricted_rules(rules, features),
        ClassifierSettings(folds=config.folds, seed=config.seed, threads=config.threads),
        config.size_bands,
    )
    tables = {
        "era_matched_within": held.within.with_columns(evaluation=pl.lit("within-set CV")),
        "era_matched_outside": held.outside.with_columns(evaluation=pl.lit("this model, unseen")),
    }
    with warehouse.connect() as con:
        replace_tables(con, {"era_matched_evaluation": pl.concat(list(tables.values()))})
    metrics = _flat(held.within, "within_") | _flat(held.outside, "outside_")
    tags = run_tags(context, fit["as_of"], fit["chain_source"])
    title = f"xblock_2019, {len(features)} features"
    with tracker.start_run("era_matched_evaluation", title, tags) as run:
        run.log_params(
            {
                **config.model_dump(),
                "folder": str(folder),
                "features": ",".join(features),
                "left_out": ",".join(sorted(UNSUPPORTED)),
            }
        )
        run.log_metrics(metrics | {f"within_{k}": v for k, v in held.within_counts.items()})
        run.log_metrics({f"outside_{k}": v for k, v in held.outside_counts.items()})
    return MaterializeResult(
        metadata={
            "within_set_cv": MetadataValue.md(f"{held.within_counts}\n\n{markdown(held.within)}"),
            "this_model_on_unseen_accounts": MetadataValue.md(
                f"{held.outside_counts}\n\n{markdown(held.outside)}"
            ),
            "features": MetadataValue.text(", ".join(features)),
            "left_out_features": MetadataValue.md(
                "\n".join(f"- `{k}`: {v}" for k, v in sorted(UNSUPPORTED.items()))
            ),
            **mlflow_metadata(run),
        }
    )


class OutOfTimeEvaluationConfig(Config):
    """The other folder, its labels, the cut-offs and the floor."""

    folder: str = Field(
        "",
        description="A Parquet folder (transactions, token_transfers, accounts.csv). Empty: "
        "$ETH_ASSETS_SHARED_DATA/phish_2022.",
    )
    label_column: str = Field("label", description="Column of accounts.csv: 1 illicit, 0 normal.")
    as_of: str = Field("", description="Features' cut-off. Empty: the end of the folder's data.")
    common_window_end: str = Field(
        "2019-04-25",
        description="Accounts first active before this day form the common window, where the "
        "classes overlap in time.",
    )
    complete_histories: bool = Field(
        False, description="The folder holds the full chain (else chosen accounts' histories)."
    )
    model: str = Field(CHAMPION, description="Registered version number or alias to score with.")
    auc_floor: float = Field(0.8, description="ROC-AUC on active accounts below this warns.")

    check_floor = fraction("auc_floor", low_open=False, high_open=False)

    @field_validator("model")
    @classmethod
    def check_model(cls, value: str) -> str:
        """A version number or an alias: not empty."""
        if not value.strip():
            raise ValueError("model='': must be a registered version number or an alias")
        return value.strip()


@asset(
    deps=[illicit_classifier, training_set],
    group_name="classifier",
    kinds={"catboost", "mlflow"},
    tags=WAREHOUSE_TAG,
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=[
        AssetCheckSpec(
            OUT_OF_TIME_CHECK,
            asset="out_of_time_evaluation",
            description="The model's ROC-AUC on the other folder's accounts with activity "
            "reaches the floor (0.8 by default).",
        )
    ],
)
def out_of_time_evaluation(
    context: AssetExecutionContext,
    config: OutOfTimeEvaluationConfig,
    warehouse: DuckDBWarehouse,
    tracker: MlflowTracker,
) -> MaterializeResult:
    """The champion scores another folder's labelled accounts (phish_2022) with no retraining,
    through the pipeline's own feature SQL, beside the date-only and size-only baselines."""
    from eth_assets.models.evaluation_sets import (
        folder_end,
        folder_features,
        read_labelled_accounts,
    )
    from eth_assets.models.ml.era import first_activity_days, fit_date_model
    from eth_assets.models.ml.held_out import (
        SIZE_FEATURE,
        activity_of,
        evaluate_scores,
        markdown,
        one_feature_model,
    )

    folder = Path(config.folder) if config.folder else shared_data_dir() / "phish_2022"
    accounts = read_labelled_accounts(folder / "accounts.csv", config.label_column)
    as_of = parse_as_of(config.as_of) if config.as_of else folder_end(folder)
    model, version = tracker.load_model(REGISTERED_MODEL, config.model)
    with warehouse.connect(read_only=True) as con:
        flagged = read_flagged_features(con)
        training = read_table(con, "training_set", "training_set")
        provenance = read_provenance(con)
    excluded = tuple(json.loads(provenance.get("excluded_tokens", "[]")))
    market_gas = None if config.complete_histories else market_gas_prices_file()
    rows = folder_features(folder, accounts, as_of, excluded, market_gas)
    train, train_labels, _ = training_rows(flagged, training)
    train_days = first_activity(training, train)
    labels = rows["label"].to_numpy().astype(int)
    days = first_activity_days(rows["first_seen"])
    size = rows[SIZE_FEATURE].to_numpy().astype(float)
    scores = {
        "model": model.score(rows)["raw_probability"].to_numpy(),
        "date_only": fit_date_model(train_days, train_labels).predict_proba(days.reshape(-1, 1))[
            :, 1
        ],
        "size_only": one_feature_model(
            train[SIZE_FEATURE].to_numpy().astype(float), train_labels
        ).predict_proba(size.reshape(-1, 1))[:, 1],
    }
    active = rows["has_activity"].to_numpy()
    window_end = first_activity_days(pl.Series([parse_as_of(config.common_window_end)]))[0]
    window = active & (np.nan_to_num(days, nan=np.inf) < window_end)
    subsets = {
        "all": np.ones(len(labels), dtype=bool),
        "active": active,
        "common_window": window,
    }
    activity = activity_of(rows)
    tables = {
        name: evaluate_scores(
            labels[mask],
            {k: v[mask] for k, v in scores.items()},
            size[mask],
            days[mask],
            activity=activity[mask] if activity is not None else None,
        )
        for name, mask in subsets.items()
    }
    headline = {name: table.row(0, named=True) for name, table in tables.items()}
    metrics: dict[str, float] = {}
    for name, row in headline.items():
        for scorer in ("model", "date_only", "size_only"):
            metrics[f"oot_{name}_{scorer}_roc_auc"] = row[f"{scorer}_roc_auc"]
        metrics[f"oot_{name}_normal"] = row["normal"]
        metrics[f"oot_{name}_illicit"] = row["illicit"]
    active_auc = headline["active"]["model_roc_auc"]
    with warehouse.connect() as con:
        replace_tables(
            con,
            {
                "out_of_time_evaluation": pl.concat(
                    [t.with_columns(accounts=pl.lit(n)) for n, t in tables.items()]
                )
            },
        )
    tags = run_tags(context, as_of, f"parquet {folder}")
    title = f"{folder.name}, v{version.version}"
    with tracker.start_run("out_of_time_evaluation", title, tags) as run:
        run.log_params(
            {
                **config.model_dump(),
                "folder": str(folder),
                "model_version": version.version,
                "as_of": as_of.isoformat(),
                "model_store_kind": getattr(model, "store_kind", ""),
            }
        )
        run.log_metrics(metrics)
    text = "\n\n".join(f"**{name}**\n\n{markdown(table)}" for name, table in tables.items())
    return MaterializeResult(
        check_results=[
            AssetCheckResult(
                check_name=OUT_OF_TIME_CHECK,
                passed=bool(active_auc >= config.auc_floor),
                severity=AssetCheckSeverity.WARN,
                metadata={"active_roc_auc": float(active_auc), "floor": config.auc_floor},
            )
        ],
        metadata={
            "dagster/row_count": len(labels),
            "model": f"{REGISTERED_MODEL} v{version.version}",
            "active_roc_auc": MetadataValue.float(float(active_auc)),
            "date_only_active_roc_auc": MetadataValue.float(
                float(headline["active"]["date_only_roc_auc"])
            ),
            "evaluation": MetadataValue.md(text),
            **mlflow_metadata(run),
        },
    )
