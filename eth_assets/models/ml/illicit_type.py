"""The type of illicit activity: which kind of scam an address the classifier flags most likely
runs, learned from the label lists' categories.

Each label-list entry's category (with its subcategory or name tag where the category alone is
too broad) maps onto one of a few `TYPES`; an address with entries of several types takes the
first in `TYPES` order (the most specific wins over the generic). An address whose entries carry
no type (MEW's free-text darklist, an unspecified category) is left out and counted, as is an
illicit account on no list at all. A type with fewer than `min_examples` accounts is reported as
too small to learn and left out of training: never padded, never merged into another type.

The model is a multiclass CatBoost over the classifier's features, cross-validated with
stratified folds (the cleaning refitted on each training part), measured per type beside the
majority-type baseline and, when first-activity dates are given, a model of that date alone.
Plain functions: no Dagster, no MLflow.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from catboost import CatBoostClassifier, Pool
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from eth_assets.common.files import load_pickle, save_pickle
from eth_assets.models.ml.cleaning import Cleaning, CleaningRules, fit_cleaning
from eth_assets.models.ml.era import fit_date_model

# The types, in precedence order: an address with entries of several types takes the first.
TYPES = ("hack", "ponzi", "fake_ico", "trust_trading", "phishing", "scam")
TYPE_MEANINGS = {
    "hack": "stolen funds: an exploiter, attacker or hacker of a project or wallet",
    "ponzi": "a Ponzi or pyramid scheme paying early investors with later ones' money",
    "fake_ico": "a fake token sale, crowdsale or ICO (or its scam token)",
    "trust_trading": "trust trading / giveaway: 'send 1, get 2 back', often impersonating "
    "a celebrity or project",
    "phishing": "phishing: a fake wallet, exchange or project site collecting keys or funds",
    "scam": "another scam the lists name without a more specific kind",
}
# A category (lower-case) that names a type by itself. The MEW darklist has no category field;
# the simulated chain writes its archetype's category into the entry's comment (its `name`), so
# a darklist comment that is exactly one of these names is read as that category too.
CATEGORY_TYPES = {
    "phishing": "phishing",
    "fake ico": "fake_ico",
    "ponzi": "ponzi",
    "hack": "hack",
    "scam": "scam",
    "trust-trading": "trust_trading",
    "impersonator": "trust_trading",
}
# EtherScamDB / CryptoScamDB "Scamming": the subcategory names the kind, else "scam".
SCAMMING_SUBCATEGORIES = {
    "trust-trading": "trust_trading",
    "giveaway": "trust_trading",
    "ponzi": "ponzi",
    "ico": "fake_ico",
}
# Etherscan's "phish-hack" page: mostly `Fake_Phishing<N>`; the name tag tells the rest apart.
HACK_TAG = re.compile(r"hack|attack|exploit|hijack|heist", re.IGNORECASE)
FAKE_SALE_TAG = re.compile(r"crowdsale|token sale|presale|\bico\b", re.IGNORECASE)
SCAM_TAG = re.compile(r"\bscam\b", re.IGNORECASE)
# Why an illicit training account is not learned from: key → what it means.
ON_NO_LIST, UNTYPED, TOO_SMALL = "on_no_list", "untyped", "too_small"
LEFT_OUT = {
    ON_NO_LIST: "illicit but on no label list",
    UNTYPED: "only untyped categories (MEW darklist comments, unspecified)",
    TOO_SMALL: "its type is too small to learn",
}
MIN_EXAMPLES = 30


def label_type(category: str | None, subcategory: str | None, name: str | None) -> str | None:
    """The type of one label-list entry, or None when it carries none (see the module doc)."""
    key = (category or "").strip().lower()
    if key in CATEGORY_TYPES:
        return CATEGORY_TYPES[key]
    if key == "scamming":
        return SCAMMING_SUBCATEGORIES.get((subcategory or "").strip().lower(), "scam")
    if key == "phish-hack":
        tag = name or ""
        if HACK_TAG.search(tag):
            return "hack"
        if FAKE_SALE_TAG.search(tag):
            return "fake_ico"
        return "scam" if SCAM_TAG.search(tag) else "phishing"
    if key == "darklist":
        return CATEGORY_TYPES.get((name or "").strip().lower())
    return None


def first_by_precedence(types: Sequence[str | None]) -> str | None:
    """The type that wins among an address's entries (first in `TYPES`), None without any."""
    present = {t for t in types if t is not None}
    return next((t for t in TYPES if t in present), None)


@dataclass(frozen=True)
class AddressTypes:
    """A type per typed address, the raw categories behind each type, and what was left out."""

    frame: pl.DataFrame  # address, illicit_type, categories (every entry's category, sorted)
    by_category: pl.DataFrame  # category, subcategory, illicit_type or "none", entries, addresses
    left_out: dict[str, int]


def address_types(labels: pl.DataFrame, addresses: Sequence[str] | pl.Series) -> AddressTypes:
    """The type of each of `addresses` from its label-list entries (`labels`: the illicit_labels
    table, columns address, category, subcategory, name)."""
    wanted = pl.DataFrame({"address": pl.Series(list(addresses), dtype=pl.Utf8)}).unique()
    entries = labels.join(wanted, on="address", how="semi")
    typed = entries.with_columns(
        illicit_type=pl.Series(
            [
                label_type(c, s, n)
                for c, s, n in zip(
                    entries["category"], entries["subcategory"], entries["name"], strict=True
                )
            ],
            dtype=pl.Utf8,
        )
    )
    per_address = typed.group_by("address").agg(
        pl.col("illicit_type"),
        categories=pl.col("category").fill_null("none").unique().sort().str.join(", "),
    )
    chosen = per_address.with_columns(
        illicit_type=pl.Series(
            [first_by_precedence(t) for t in per_address["illicit_type"].to_list()],
            dtype=pl.Utf8,
        )
    )
    frame = chosen.filter(pl.col("illicit_type").is_not_null()).sort("address")
    by_category = (
        typed.with_columns(pl.col("subcategory").str.to_lowercase())
        .group_by("category", "subcategory", "illicit_type")
        .agg(entries=pl.len(), addresses=pl.col("address").n_unique())
        .with_columns(pl.col("illicit_type").fill_null("none"))
        .sort(["entries", "category", "subcategory"], descending=[True, False, False])
    )
    return AddressTypes(
        frame=frame.select("address", "illicit_type", "categories"),
        by_category=by_category,
        left_out={
            ON_NO_LIST: wanted.height - per_address.height,
            UNTYPED: per_address.height - frame.height,
        },
    )


@dataclass(frozen=True)
class TypeSettings:
    """Minimum accounts per type, folds, seed, threads and CatBoost's small fixed parameters."""

    min_examples: int = MIN_EXAMPLES
    folds: int = 5
    seed: int = 0
    threads: int = 2
    params: dict[str, object] = field(
        default_factory=lambda: {"depth": 4, "iterations": 200, "learning_rate": 0.1}
    )


def _pool(frame: pl.DataFrame, cleaning: Cleaning, labels: np.ndarray | None = None) -> Pool:
    data = cleaning.apply(frame, keep=()).to_pandas()
    return Pool(data, label=labels, cat_features=list(cleaning.categorical_features))


def _fit(
    frame: pl.DataFrame, codes: np.ndarray, rules: CleaningRules, settings: TypeSettings
) -> tuple[Cleaning, CatBoostClassifier]:
    """The cleaning fitted on `frame` and a multiclass CatBoost trained on what it produced."""
    cleaning, _ = fit_cleaning(frame, rules)
    model = CatBoostClassifier(
        **settings.params,
        loss_function="MultiClass",
        random_seed=settings.seed,
        thread_count=settings.threads,
        allow_writing_files=False,
        verbose=False,
    )
    model.fit(_pool(frame, cleaning, codes))
    return cleaning, model


@dataclass(frozen=True)
class IllicitTypeModel:
    """The cleaning and multiclass CatBoost that name a type, or no model and why not."""

    types: tuple[str, ...]  # learned types, in the order of the probability columns
    cleaning: Cleaning | None
    classifier: CatBoostClassifier | None
    too_small: dict[str, int]
    trained_rows: int
    why_not: str = ""

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """(rows, types) probabilities; NaN everywhere without a model."""
        if self.classifier is None or self.cleaning is None or frame.height == 0:
            return np.full((frame.height, len(self.types)), np.nan)
        return self.classifier.predict_proba(_pool(frame, self.cleaning))

    def predict(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Per row: the most likely type and its probability (NULL without a model)."""
        probabilities = self.predict_proba(frame)
        if self.classifier is None or frame.height == 0:
            return pl.DataFrame(
                {
                    "illicit_type": pl.Series([None] * frame.height, dtype=pl.Utf8),
                    "illicit_type_probability": pl.Series([None] * frame.height, dtype=pl.Float64),
                }
            )
        best = probabilities.argmax(axis=1)
        return pl.DataFrame(
            {
                "illicit_type": pl.Series(
                    np.asarray(self.types, dtype=object)[best], dtype=pl.Utf8
                ),
                "illicit_type_probability": probabilities[np.arange(frame.height), best],
            }
        )

    def save(self, path: Path) -> Path:
        """Pickle the model to `path` atomically."""
        return save_pickle(self, path)


def load_illicit_type_model(path: Path) -> IllicitTypeModel:
    """A model written by `IllicitTypeModel.save`."""
    return load_pickle(path, IllicitTypeModel, "illicit_type_model")


@dataclass(frozen=True)
class IllicitTypeRun:
    """What one training run measured and produced."""

    types: AddressTypes
    counts: dict[str, int]  # accounts per type among the illicit training accounts
    too_small: dict[str, int]
    per_type: pl.DataFrame  # type, examples, learned, support, precision, recall, f1
    folds: pl.DataFrame  # fold, rows, accuracy, macro_f1, seconds
    baselines: pl.DataFrame  # predictor, accuracy, macro_f1
    confusion: pl.DataFrame  # true_type, then one count column per predicted type
    out_of_fold: np.ndarray  # (rows, types) probabilities of the learned types' rows
    model: IllicitTypeModel
    plot: Path | None

    @property
    def learned(self) -> tuple[str, ...]:
        return self.model.types

    def left_out(self) -> dict[str, int]:
        """Illicit training accounts not learned from, by reason (keys of `LEFT_OUT`)."""
        return {**self.types.left_out, TOO_SMALL: sum(self.too_small.values())}

    def metrics(self) -> dict[str, float]:
        """Flat metrics with stable names (NaN when nothing was learned)."""
        result: dict[str, float] = {
            "type_examples": float(sum(self.counts[t] for t in self.learned)),
            "type_learned": float(len(self.learned)),
            "type_too_small": float(len(self.too_small)),
            **{f"type_left_out_{k}": float(n) for k, n in self.left_out().items()},
        }
        for row in self.baselines.iter_rows(named=True):
            prefix = {"model": "type", "majority type": "type_majority"}.get(
                row["predictor"], "type_date_only"
            )
            result[f"{prefix}_accuracy"] = row["accuracy"]
            result[f"{prefix}_macro_f1"] = row["macro_f1"]
        for row in self.per_type.filter(pl.col("learned")).iter_rows(named=True):
            for metric in ("precision", "recall", "f1", "support"):
                result[f"type_{row['type']}_{metric}"] = float(row[metric])
        return result


PER_TYPE_SCHEMA = {
    "type": pl.Utf8,
    "examples": pl.Int64,
    "learned": pl.Boolean,
    "support": pl.Int64,
    "precision": pl.Float64,
    "recall": pl.Float64,
    "f1": pl.Float64,
}


def _scores(codes: np.ndarray, predicted: np.ndarray, k: int) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(codes, predicted)),
        "macro_f1": float(
            f1_score(codes, predicted, labels=list(range(k)), average="macro", zero_division=0)
        ),
    }


def _majority(train: np.ndarray) -> int:
    values, counts = np.unique(train, return_counts=True)
    return int(values[np.argmax(counts)])


def _date_only(
    days: np.ndarray, codes: np.ndarray, fold_of_row: np.ndarray, seed: int
) -> np.ndarray:
    """Out-of-fold types predicted from the first-activity date alone (the era-aware
    evaluation's 1-D model; one OpenMP thread: more only contend on a busy machine)."""
    predicted = np.empty(len(codes), dtype=int)
    with threadpool_limits(limits=1):
        for fold in np.unique(fold_of_row):
            train, test = fold_of_row != fold, fold_of_row == fold
            model = fit_date_model(days[train], codes[train], seed)
            predicted[test] = model.predict(days[test].reshape(-1, 1))
    return predicted


def _nothing_learned(
    typed: AddressTypes,
    counts: dict[str, int],
    too_small: dict[str, int],
    why: str,
) -> IllicitTypeRun:
    per_type = pl.DataFrame(
        [
            {"type": t, "examples": n, "learned": False}
            for t, n in sorted(counts.items(), key=lambda item: -item[1])
        ],
        schema={k: PER_TYPE_SCHEMA[k] for k in ("type", "examples", "learned")},
    ).with_columns(
        support=pl.lit(None, pl.Int64),
        precision=pl.lit(None, pl.Float64),
        recall=pl.lit(None, pl.Float64),
        f1=pl.lit(None, pl.Float64),
    )
    return IllicitTypeRun(
        types=typed,
        counts=counts,
        too_small=too_small,
        per_type=per_type,
        folds=pl.DataFrame(
            schema={
                "fold": pl.Int64,
                "rows": pl.Int64,
                "accuracy": pl.Float64,
                "macro_f1": pl.Float64,
                "seconds": pl.Float64,
            }
        ),
        baselines=pl.DataFrame(
            schema={"predictor": pl.Utf8, "accuracy": pl.Float64, "macro_f1": pl.Float64}
        ),
        confusion=pl.DataFrame(schema={"true_type": pl.Utf8}),
        out_of_fold=np.zeros((0, 0)),
        model=IllicitTypeModel((), None, None, too_small, 0, why),
        plot=None,
    )


def train_illicit_type(
    frame: pl.DataFrame,
    labels: pl.DataFrame,
    rules: CleaningRules,
    settings: TypeSettings,
    days: np.ndarray | None = None,
    plot_path: Path | None = None,
) -> IllicitTypeRun:
    """Type each of the illicit accounts in `frame` (address + features) from `labels` (the
    illicit_labels table), then cross-validate and fit a multiclass CatBoost on the types with
    at least `min_examples` accounts. `days`: each row's first activity (days since the epoch)
    for the date-only baseline, or None to skip it. `plot_path`: where to draw the confusion."""
    if settings.min_examples < settings.folds:
        raise ValueError(
            f"min_examples {settings.min_examples} is below folds {settings.folds}: every fold "
            "must hold each learned type; raise min_examples or lower folds"
        )
    if days is not None and len(days) != frame.height:
        raise ValueError(f"{len(days)} first-activity days for {frame.height} feature rows")
    typed = address_types(labels, frame["address"])
    indexed = frame.with_row_index("row").join(
        typed.frame.select("address", "illicit_type"), on="address", how="inner"
    )
    counts = {
        t: int(n) for t, n in indexed.group_by("illicit_type").len().iter_rows() if t is not None
    }
    learned = tuple(t for t in TYPES if counts.get(t, 0) >= settings.min_examples)
    too_small = {t: n for t, n in counts.items() if t not in learned}
    if len(learned) < 2:
        why = (
            f"{len(learned)} type(s) with at least {settings.min_examples} accounts "
            f"({', '.join(learned) or 'none'}); a type model needs two. Accounts per type: "
            + (", ".join(f"{t} {n}" for t, n in sorted(counts.items())) or "none")
        )
        return _nothing_learned(typed, counts, too_small, why)
    rows = indexed.filter(pl.col("illicit_type").is_in(list(learned))).sort("address")
    codes = np.array([learned.index(t) for t in rows["illicit_type"]], dtype=int)
    features = frame[rows["row"].to_numpy()]
    k = len(learned)
    splitter = StratifiedKFold(n_splits=settings.folds, shuffle=True, random_state=settings.seed)
    fold_of_row = np.empty(len(codes), dtype=int)
    for number, (_, test) in enumerate(splitter.split(np.zeros(len(codes)), codes)):
        fold_of_row[test] = number
    out_of_fold = np.zeros((len(codes), k))
    majority = np.empty(len(codes), dtype=int)
    fold_rows = []
    for fold in range(settings.folds):
        started = time.perf_counter()
        train, test = np.flatnonzero(fold_of_row != fold), np.flatnonzero(fold_of_row == fold)
        cleaning, model = _fit(features[train], codes[train], rules, settings)
        out_of_fold[test] = model.predict_proba(_pool(features[test], cleaning))
        majority[test] = _majority(codes[train])
        fold_rows.append(
            {
                "fold": fold,
                "rows": len(test),
                **_scores(codes[test], out_of_fold[test].argmax(axis=1), k),
                "seconds": time.perf_counter() - started,
            }
        )
    predicted = out_of_fold.argmax(axis=1)
    baselines = [
        {"predictor": "model", **_scores(codes, predicted, k)},
        {"predictor": "majority type", **_scores(codes, majority, k)},
    ]
    if days is not None:
        dated = _date_only(days[rows["row"].to_numpy()], codes, fold_of_row, settings.seed)
        baselines.append({"predictor": "first-activity date only", **_scores(codes, dated, k)})
    precision, recall, f1, support = precision_recall_fscore_support(
        codes, predicted, labels=list(range(k)), zero_division=0
    )
    per_type = pl.DataFrame(
        [
            {
                "type": t,
                "examples": counts[t],
                "learned": True,
                "support": int(support[i]),
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
            }
            for i, t in enumerate(learned)
        ]
        + [
            {"type": t, "examples": n, "learned": False}
            for t, n in sorted(too_small.items(), key=lambda item: -item[1])
        ],
        schema=PER_TYPE_SCHEMA,
    )
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (codes, predicted), 1)
    confusion = pl.DataFrame(
        {"true_type": list(learned), **{t: matrix[:, j] for j, t in enumerate(learned)}}
    )
    cleaning, final = _fit(features, codes, rules, settings)
    plot = None
    if plot_path is not None:
        from eth_assets.models.ml.plots import confusion_plot

        plot = confusion_plot(
            matrix, learned, plot_path, f"illicit type, {settings.folds}-fold out of fold"
        )
    return IllicitTypeRun(
        types=typed,
        counts=counts,
        too_small=too_small,
        per_type=per_type,
        folds=pl.DataFrame(fold_rows),
        baselines=pl.DataFrame(baselines),
        confusion=confusion,
        out_of_fold=out_of_fold,
        model=IllicitTypeModel(learned, cleaning, final, too_small, len(codes)),
        plot=plot,
    )


def markdown(run: IllicitTypeRun) -> str:
    """The per-type table, the baselines and what was left out, as Markdown."""
    lines = [
        "| type | accounts | learned | precision | recall | F1 | support |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for row in run.per_type.iter_rows(named=True):
        if row["learned"]:
            lines.append(
                f"| {row['type']} | {row['examples']} | yes | {row['precision']:.3f} | "
                f"{row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |"
            )
        else:
            lines.append(f"| {row['type']} | {row['examples']} | too small to learn | | | | |")
    lines += ["", "| predictor | accuracy | macro-F1 |", "|---|---:|---:|"]
    lines += [
        f"| {r['predictor']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} |"
        for r in run.baselines.iter_rows(named=True)
    ]
    left = ", ".join(f"{LEFT_OUT[reason]}: {n}" for reason, n in run.left_out().items())
    lines += ["", f"Left out: {left}."]
    if run.model.why_not:
        lines.append(f"No model: {run.model.why_not}.")
    return "\n".join(lines)
