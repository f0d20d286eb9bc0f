"""The type of illicit activity: the category → type mapping, what is left out, and a model on
hand-built accounts whose types a feature separates."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from eth_assets.models.ml.cleaning import CleaningRules
from eth_assets.models.ml.illicit_type import (
    ON_NO_LIST,
    TOO_SMALL,
    UNTYPED,
    TypeSettings,
    address_types,
    first_by_precedence,
    label_type,
    train_illicit_type,
)

RULES = CleaningRules(
    numeric_columns=("signal", "noise"),
    categorical_columns=("token",),
    may_be_negative=("signal", "noise"),
    max_zero_share=0.99,
)
QUICK = TypeSettings(min_examples=30, folds=3, params={"depth": 3, "iterations": 60})
# How each type is listed: (source, category, subcategory, name).
LISTED = {
    "phishing": ("cryptoscamdb", "Phishing", "MyEtherWallet", "myetherwallet-login.com"),
    "trust_trading": ("etherscamdb", "Scamming", "Trust-Trading", "vitalik-giveaway.io"),
    "ponzi": ("mew_darklist", "darklist", None, "Ponzi"),  # the simulated chain's form
    "hack": ("etherscan_phish_hack", "phish-hack", None, "Bancor Hacker"),
}


@pytest.mark.parametrize(
    ("category", "subcategory", "name", "expected"),
    [
        ("Phishing", "Trust-Trading", None, "phishing"),
        ("Scamming", "Trust-Trading", None, "trust_trading"),
        ("Scamming", "trust-trading", None, "trust_trading"),
        ("Scamming", "Giveaway", None, "trust_trading"),
        ("Scamming", "Ponzi", None, "ponzi"),
        ("Scamming", "ICO", None, "fake_ico"),
        ("Scamming", "Exchange", None, "scam"),
        ("Scamming", None, None, "scam"),
        ("Fake ICO", "district0x", "district0x.net", "fake_ico"),
        ("Scam", "Status", None, "scam"),
        ("phish-hack", None, "Fake_Phishing3901", "phishing"),
        ("phish-hack", None, None, "phishing"),
        ("phish-hack", None, "KyberSwap Attacker 2", "hack"),
        ("phish-hack", None, "Bancor Hacker", "hack"),
        ("phish-hack", None, "FAKE: Starbase Crowdsale", "fake_ico"),
        ("phish-hack", None, "Scam: RHOC Token 3", "scam"),
        ("darklist", None, "Phishing", "phishing"),
        ("darklist", None, "Impersonator", "trust_trading"),
        ("darklist", None, "Fake ICO", "fake_ico"),
        ("darklist", None, "Ponzi", "ponzi"),
        ("darklist", None, "Trust-Trading scam", None),  # the real list's free text: no type
        ("darklist", None, None, None),
        ("unspecified", None, "whatever", None),
        (None, None, None, None),
    ],
)
def test_category_to_type(
    category: str | None, subcategory: str | None, name: str | None, expected: str | None
) -> None:
    assert label_type(category, subcategory, name) == expected


def test_precedence_specific_before_generic() -> None:
    assert first_by_precedence(["phishing", "trust_trading"]) == "trust_trading"
    assert first_by_precedence(["scam", "phishing", None]) == "phishing"
    assert first_by_precedence(["phishing", "fake_ico", "hack"]) == "hack"
    assert first_by_precedence(["ponzi", "fake_ico"]) == "ponzi"
    assert first_by_precedence([None, None]) is None


def _labels(rows: list[tuple[str, str]]) -> pl.DataFrame:
    """An illicit_labels table: one entry per (address, type listed as in LISTED)."""
    entries = [(address, *LISTED[kind]) for address, kind in rows]
    return pl.DataFrame(
        entries,
        schema=["address", "source", "category", "subcategory", "name"],
        orient="row",
    ).with_columns(date=pl.lit(None, pl.Utf8))


def test_untyped_and_unlisted_addresses_are_left_out_and_counted() -> None:
    labels = pl.concat(
        [
            _labels([("0xa", "phishing"), ("0xb", "phishing"), ("0xb", "trust_trading")]),
            pl.DataFrame(
                {
                    "address": ["0xc", "0xd", "0xb"],
                    "source": ["mew_darklist"] * 3,
                    "category": ["darklist"] * 3,
                    "subcategory": [None] * 3,
                    "name": ["Trust-Trading scam", None, "Fake MEW"],
                    "date": [None] * 3,
                },
                schema_overrides={"subcategory": pl.Utf8, "date": pl.Utf8},
            ),
        ]
    )
    typed = address_types(labels, ["0xa", "0xb", "0xc", "0xd", "0xe"])
    assert dict(zip(typed.frame["address"], typed.frame["illicit_type"], strict=True)) == {
        "0xa": "phishing",
        "0xb": "trust_trading",  # the more specific category wins; its untyped entry is ignored
    }
    assert typed.left_out == {ON_NO_LIST: 1, UNTYPED: 2}  # 0xe; 0xc and 0xd
    darklist = typed.by_category.filter(pl.col("category") == "darklist")
    assert darklist["illicit_type"].to_list() == ["none"] and darklist["entries"].item() == 3


def _accounts(sizes: dict[str, int], seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Feature rows of illicit accounts whose `signal` tells the type (3 apart per type, noise
    sd 0.5), and their label-list entries."""
    rng = np.random.default_rng(seed)
    kinds = [kind for kind, n in sizes.items() for _ in range(n)]
    centre = {kind: 3.0 * i for i, kind in enumerate(LISTED)}
    n = len(kinds)
    frame = pl.DataFrame(
        {
            "address": [f"0x{i:040x}" for i in range(n)],
            "signal": [centre[k] + rng.normal(0, 0.5) for k in kinds],
            "noise": rng.normal(0, 1, n),
            "token": pl.Series(rng.choice(["DAI", "USDC", None], n).tolist(), dtype=pl.Utf8),
        }
    )
    return frame, _labels(list(zip(frame["address"], kinds, strict=True)))


def test_separable_types_are_learned_with_high_recall() -> None:
    frame, labels = _accounts({"phishing": 60, "trust_trading": 45, "ponzi": 40})
    run = train_illicit_type(frame, labels, RULES, QUICK)
    assert run.learned == ("ponzi", "trust_trading", "phishing")  # precedence order
    learned = run.per_type.filter(pl.col("learned"))
    assert dict(zip(learned["type"], learned["support"], strict=True)) == {
        "ponzi": 40,
        "trust_trading": 45,
        "phishing": 60,
    }
    assert learned["recall"].min() >= 0.9 and learned["precision"].min() >= 0.9
    metrics = run.metrics()
    assert metrics["type_macro_f1"] >= 0.9
    assert metrics["type_majority_accuracy"] == pytest.approx(60 / 145)
    assert metrics["type_phishing_recall"] >= 0.9
    assert run.confusion["true_type"].to_list() == list(run.learned)
    assert int(run.confusion.drop("true_type").to_numpy().sum()) == 145
    fresh = pl.DataFrame(
        {"address": ["0x1", "0x2"], "signal": [0.1, 6.1], "noise": [0.0, 0.0], "token": [None] * 2},
        schema_overrides={"token": pl.Utf8},
    )
    predicted = run.model.predict(fresh)
    assert predicted["illicit_type"].to_list() == ["phishing", "ponzi"]
    assert predicted["illicit_type_probability"].min() > 0.5


def test_a_type_below_the_minimum_is_reported_not_learned(tmp_path) -> None:
    frame, labels = _accounts({"phishing": 40, "trust_trading": 40, "hack": 12})
    run = train_illicit_type(frame, labels, RULES, QUICK, plot_path=tmp_path / "confusion.png")
    assert run.too_small == {"hack": 12}
    assert "hack" not in run.learned and run.model.too_small == {"hack": 12}
    hack = run.per_type.filter(pl.col("type") == "hack").row(0, named=True)
    assert hack["learned"] is False and hack["examples"] == 12 and hack["recall"] is None
    assert run.left_out()[TOO_SMALL] == 12
    assert run.model.trained_rows == 80  # the hack accounts trained nothing
    assert set(run.model.predict(frame)["illicit_type"]) <= {"phishing", "trust_trading"}
    assert run.plot is not None and run.plot.read_bytes()[:4] == b"\x89PNG"


def test_with_one_learnable_type_there_is_no_model_and_it_says_why() -> None:
    frame, labels = _accounts({"phishing": 40, "ponzi": 10})
    run = train_illicit_type(frame, labels, RULES, QUICK)
    assert run.model.classifier is None and run.learned == ()
    assert "a type model needs two" in run.model.why_not and "phishing 40" in run.model.why_not
    assert run.too_small == {"ponzi": 10}
    predicted = run.model.predict(frame.head(3))
    assert predicted["illicit_type"].null_count() == 3
    assert predicted["illicit_type_probability"].null_count() == 3


def test_without_any_label_entry_nothing_is_learned_and_everyone_is_counted() -> None:
    frame, labels = _accounts({"phishing": 40, "ponzi": 40})
    run = train_illicit_type(frame, labels.head(0), RULES, QUICK)
    assert run.model.classifier is None and run.counts == {}
    assert run.left_out() == {ON_NO_LIST: 80, UNTYPED: 0, TOO_SMALL: 0}
    assert run.per_type.height == 0 and run.confusion.height == 0


def test_fewer_examples_than_folds_is_refused() -> None:
    frame, labels = _accounts({"phishing": 40, "ponzi": 40})
    with pytest.raises(ValueError, match="min_examples 2 is below folds 3"):
        train_illicit_type(frame, labels, RULES, TypeSettings(min_examples=2, folds=3))


def test_the_date_only_baseline_is_measured_beside_the_model() -> None:
    frame, labels = _accounts({"phishing": 40, "ponzi": 40})
    # Every phishing account started in 2018, every Ponzi in 2020: the date alone tells them.
    days = np.where(np.arange(80) < 40, 17_600.0, 18_300.0)
    run = train_illicit_type(frame, labels, RULES, QUICK, days=days)
    date_only = run.baselines.filter(pl.col("predictor") == "first-activity date only")
    assert date_only["accuracy"].item() == pytest.approx(1.0)
    assert run.metrics()["type_date_only_macro_f1"] == pytest.approx(1.0)
