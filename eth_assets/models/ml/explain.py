"""Reasons in words: an address's largest SHAP contributions on each side, as sentences that
say whether each raises or lowers the risk and by how many probability points, with the value
in its unit and how it compares with the known illicit and the other scored addresses."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from eth_assets.models.ml.units import readable, unit

# What each feature measures, as the subject of a sentence ("<phrase>: <value>").
PHRASES: dict[str, str] = {
    "avg_min_between_sent_tnx": "average time between payments sent",
    "avg_min_between_received_tnx": "average time between payments received",
    "time_diff_between_first_and_last_mins": "time between first and last transaction",
    "sent_tnx": "transactions sent",
    "received_tnx": "transactions received",
    "number_of_created_contracts": "contracts created",
    "unique_received_from_addresses": "distinct addresses received from",
    "unique_sent_to_addresses": "distinct addresses paid",
    "min_value_received": "smallest ether amount received",
    "max_value_received": "largest ether amount received",
    "avg_val_received": "average ether amount received",
    "min_val_sent": "smallest ether amount sent",
    "max_val_sent": "largest ether amount sent",
    "avg_val_sent": "average ether amount sent",
    "min_value_sent_to_contract": "smallest ether amount sent to a contract",
    "max_val_sent_to_contract": "largest ether amount sent to a contract",
    "avg_value_sent_to_contract": "average ether amount sent to contracts",
    "total_transactions": "transactions in all",
    "total_ether_sent": "ether sent in all",
    "total_ether_received": "ether received in all",
    "total_ether_sent_contracts": "ether sent to contracts in all",
    "total_ether_balance": "ether received minus ether sent",
    "total_erc20_tnxs": "token transfers",
    "erc20_total_ether_received": "token amount received",
    "erc20_total_ether_sent": "token amount sent",
    "erc20_total_ether_sent_contract": "token amount sent to contracts",
    "erc20_uniq_sent_addr": "distinct addresses sent tokens",
    "erc20_uniq_rec_addr": "distinct addresses tokens came from",
    "erc20_uniq_sent_contract_addr": "distinct contracts sent tokens",
    "erc20_uniq_rec_contract_addr": "distinct token contracts received from",
    "erc20_avg_time_between_sent_tnx": "average time between token transfers sent",
    "erc20_avg_time_between_rec_tnx": "average time between token transfers received",
    "erc20_avg_time_between_rec_2_tnx": "average time between token transfers received (2)",
    "erc20_avg_time_between_contract_tnx": "average time between token transfers to contracts",
    "erc20_min_val_rec": "smallest token amount received",
    "erc20_max_val_rec": "largest token amount received",
    "erc20_avg_val_rec": "average token amount received",
    "erc20_min_val_sent": "smallest token amount sent",
    "erc20_max_val_sent": "largest token amount sent",
    "erc20_avg_val_sent": "average token amount sent",
    "erc20_min_val_sent_contract": "smallest token amount sent to a contract",
    "erc20_max_val_sent_contract": "largest token amount sent to a contract",
    "erc20_avg_val_sent_contract": "average token amount sent to contracts",
    "erc20_uniq_sent_token_name": "distinct tokens sent",
    "erc20_uniq_rec_token_name": "distinct tokens received",
    "erc20_most_sent_token_type": "token sent most",
    "erc20_most_rec_token_type": "token received most",
    "sent_diff_between_max_and_min": "spread between largest and smallest ether amount sent",
    "balance_eth": "ether balance",
    "unique_tokens_held": "distinct tokens held",
    "unique_token_transfers": "token transfers (as investor feature)",
    "failed_sent_share": "share of its transactions that failed",
    "contract_call_share": "share of its transactions that call contracts",
    "zero_value_sent_share": "share of its transactions that move no ether",
    "round_value_sent_share": "share of round ether amounts sent",
    "round_value_received_share": "share of round ether amounts received",
    "gas_price_vs_day": "gas price paid against the day's average",
    "gas_price_cv": "variation of the gas price it pays",
    "distinct_gas_price_share": "share of distinct gas prices among its transactions",
    "gas_used_ratio": "gas used against the gas limit set",
    "active_days": "days with activity",
    "busiest_day_share": "share of its activity on its busiest day",
    "hour_entropy": "spread of its activity over the hours of the day (bits)",
    "first_received_to_first_sent_mins": "time from its first receipt to its first payment",
    "median_sender_activity": "activity of the addresses that paid it (median transactions)",
    "median_recipient_activity": "activity of the addresses it paid (median transactions)",
    "profile": "investor profile",
}


def phrase(feature: str) -> str:
    return PHRASES.get(feature, feature.replace("_", " "))


# Values this close (relative) count as ties: the same feature computed by two exact-to-rounding
# paths (the full-history SQL on the fly, the feature state for the snapshot) may differ in the
# last bits, which must not move an address's percentile.
TIE_TOLERANCE = 1e-9


def percentile(population: np.ndarray, value: float) -> float:
    """Share of `population` strictly below `value`, plus half the ties (equal to within
    TIE_TOLERANCE relative), in percent."""
    if len(population) == 0:
        return float("nan")
    tolerance = TIE_TOLERANCE * abs(value)
    below = np.count_nonzero(population < value - tolerance)
    ties = np.count_nonzero(np.abs(population - value) <= tolerance)
    return float(100.0 * (below + 0.5 * ties) / len(population))


def percentiles(population: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`percentile(population, v)` for every v of `values`, vectorised (sorted population)."""
    if len(population) == 0:
        return np.full(len(values), np.nan)
    ordered = np.sort(population)
    tolerance = TIE_TOLERANCE * np.abs(values)
    below = np.searchsorted(ordered, values - tolerance, side="left")
    not_above = np.searchsorted(ordered, values + tolerance, side="right")
    return 100.0 * (below + 0.5 * (not_above - below)) / len(ordered)


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st…"""
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


RAISES, LOWERS = "raises", "lowers"

# One reason as the scores table stores it (the API's `reasons` objects).
REASON_TYPE = pl.Struct(
    {
        "feature": pl.Utf8,
        "label": pl.Utf8,
        "direction": pl.Utf8,
        "points": pl.Float64,
        "shap_log_odds": pl.Float64,
        "value": pl.Float64,
        "category": pl.Utf8,
        "unit": pl.Utf8,
        "shown": pl.Utf8,
        "percentile_all": pl.Float64,
        "percentile_illicit": pl.Float64,
        "percentile_others": pl.Float64,
        "median_illicit": pl.Float64,
        "median_others": pl.Float64,
        "sentence": pl.Utf8,
    }
)


def _nan(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


@dataclass(frozen=True)
class Reason:
    """One feature's push on one address's risk, with its context.

    `shap` is the SHAP value in log-odds; `points` the same push in probability (a share of
    the calibrated score's distance from the base score, split in proportion to the SHAP
    values, so the points of all features add up to that distance); the percentiles place the
    value among all scored addresses, the known illicit ones and the others; the medians are
    the known illicit ones' and the others'."""

    feature: str
    value: object
    shap: float
    percentile_all: float
    percentile_illicit: float
    points: float = float("nan")
    percentile_others: float = float("nan")
    median_illicit: float = float("nan")
    median_others: float = float("nan")

    @property
    def direction(self) -> str:
        return RAISES if self.shap > 0 else LOWERS

    def comparison(self) -> str:
        """E.g. "higher than 98 % of scored addresses; known illicit: median 2 ETH, others:
        median 0.3 ETH" ("" for a category or without populations)."""
        if isinstance(self.value, str) or math.isnan(self.percentile_all):
            return ""
        if self.percentile_all >= 99.5:
            text = "among the highest 1 % of scored addresses"
        elif self.percentile_all >= 50:
            text = f"higher than {self.percentile_all:.0f} % of scored addresses"
        elif self.percentile_all < 0.5:
            text = "among the lowest 1 % of scored addresses"
        else:
            text = f"lower than {100 - self.percentile_all:.0f} % of scored addresses"
        medians = [
            f"{who}: median {readable(self.feature, median)}"
            for who, median in (
                ("known illicit", self.median_illicit),
                ("others", self.median_others),
            )
            if not math.isnan(median)
        ]
        if medians:
            text += f" ({', '.join(medians)})"
        elif not math.isnan(self.percentile_illicit):
            text += f" ({ordinal(round(self.percentile_illicit))} percentile of known illicit ones)"
        return text

    def weight(self) -> str:
        """E.g. "raises the risk by 12.3 points" (or without points when unknown)."""
        if math.isnan(self.points):
            return f"{self.direction} the risk"
        return f"{self.direction} the risk by {abs(self.points) * 100:.1f} points"

    def sentence(self) -> str:
        """E.g. "raises the risk by 12.3 points — distinct addresses received from: 312,
        higher than 98 % of scored addresses (known illicit: median 40, others: median 3)"."""
        text = f"{self.weight()} — {phrase(self.feature)}: {readable(self.feature, self.value)}"
        comparison = self.comparison()
        return f"{text}, {comparison}" if comparison else text

    def as_dict(self) -> dict[str, object]:
        """The reason for the JSON API: full precision, the value in its unit and as shown."""
        numeric = not isinstance(self.value, str)
        return {
            "feature": self.feature,
            "label": phrase(self.feature),
            "direction": self.direction,
            "points": _nan(self.points),
            "shap_log_odds": float(self.shap),
            "value": float(self.value) if numeric and self.value is not None else None,
            "category": None if numeric else self.value,
            "unit": unit(self.feature),
            "shown": readable(self.feature, self.value),
            "percentile_all": _nan(self.percentile_all),
            "percentile_illicit": _nan(self.percentile_illicit),
            "percentile_others": _nan(self.percentile_others),
            "median_illicit": _nan(self.median_illicit),
            "median_others": _nan(self.median_others),
            "sentence": self.sentence(),
        }


def chosen_indices(shap_row: np.ndarray, count: int) -> list[int]:
    """The `count` features raising the risk most (largest positive SHAP values), then the
    `count` lowering it most (most negative); features that do not move it are left out."""
    raising = [int(i) for i in np.argsort(-shap_row, kind="stable")[:count] if shap_row[i] > 0]
    lowering = [int(i) for i in np.argsort(shap_row, kind="stable")[:count] if shap_row[i] < 0]
    return raising + lowering


def _median(population: np.ndarray | None) -> float:
    return float(np.median(population)) if population is not None and len(population) else math.nan


def top_reasons(
    shap_row: np.ndarray,
    names: tuple[str, ...] | list[str],
    values: list[object],
    populations: dict[str, np.ndarray],
    illicit_populations: dict[str, np.ndarray],
    count: int = 3,
    points_row: np.ndarray | None = None,
    other_populations: dict[str, np.ndarray] | None = None,
) -> list[Reason]:
    """The reasons of one address: up to `count` raising its risk, then up to `count` lowering
    it (see `chosen_indices`), against sorted populations of the scored, the known illicit and
    the other addresses."""
    others = other_populations or {}
    reasons = []
    for index in chosen_indices(shap_row, count):
        name = names[index]
        value = values[index]
        numeric = not isinstance(value, str)
        number = float(value) if numeric else math.nan  # type: ignore[arg-type]
        reasons.append(
            Reason(
                feature=name,
                value=number if numeric else value,
                shap=float(shap_row[index]),
                points=float(points_row[index]) if points_row is not None else math.nan,
                percentile_all=percentile(populations[name], number)
                if numeric and name in populations
                else math.nan,
                percentile_illicit=percentile(illicit_populations[name], number)
                if numeric and name in illicit_populations
                else math.nan,
                percentile_others=percentile(others[name], number)
                if numeric and name in others
                else math.nan,
                median_illicit=_median(illicit_populations.get(name)) if numeric else math.nan,
                median_others=_median(others.get(name)) if numeric else math.nan,
            )
        )
    return reasons


def explain_rows(
    shap: np.ndarray,
    names: tuple[str, ...] | list[str],
    cleaned: dict[str, np.ndarray],
    illicit_rows: np.ndarray,
    count: int = 3,
    points: np.ndarray | None = None,
) -> list[list[Reason]]:
    """Reasons of every row (see `top_reasons`): `shap` rows × features; `cleaned` the feature
    values the model saw per name (numeric arrays or text); `illicit_rows` a mask of the known
    illicit rows, the others being every other row; `points` the SHAP values in probability."""
    numeric = {n: v.astype(float) for n, v in cleaned.items() if v.dtype.kind in "fiub"}
    illicit = np.asarray(illicit_rows, dtype=bool)
    percentile_all = {n: percentiles(v, v) for n, v in numeric.items()}
    percentile_illicit = {n: percentiles(v[illicit], v) for n, v in numeric.items()}
    percentile_others = {n: percentiles(v[~illicit], v) for n, v in numeric.items()}
    median_illicit = {n: _median(v[illicit]) for n, v in numeric.items()}
    median_others = {n: _median(v[~illicit]) for n, v in numeric.items()}
    result = []
    for row in range(shap.shape[0]):
        reasons = []
        for index in chosen_indices(shap[row], count):
            name = names[index]
            is_number = name in numeric
            reasons.append(
                Reason(
                    feature=name,
                    value=float(numeric[name][row]) if is_number else cleaned[name][row],
                    shap=float(shap[row, index]),
                    points=float(points[row, index]) if points is not None else math.nan,
                    percentile_all=float(percentile_all[name][row]) if is_number else math.nan,
                    percentile_illicit=float(percentile_illicit[name][row])
                    if is_number
                    else math.nan,
                    percentile_others=float(percentile_others[name][row])
                    if is_number
                    else math.nan,
                    median_illicit=median_illicit[name] if is_number else math.nan,
                    median_others=median_others[name] if is_number else math.nan,
                )
            )
        result.append(reasons)
    return result
