"""Reasons in words: an address's top SHAP contributions as sentences with its own value and
its percentile among scored addresses and among known illicit ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# What each feature measures, as the subject of a sentence ("<phrase>: <value>").
PHRASES: dict[str, str] = {
    "avg_min_between_sent_tnx": "average minutes between payments sent",
    "avg_min_between_received_tnx": "average minutes between payments received",
    "time_diff_between_first_and_last_mins": "minutes between first and last transaction",
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
    "first_received_to_first_sent_mins": "minutes from its first receipt to its first payment",
    "median_sender_activity": "activity of the addresses that paid it (median transactions)",
    "median_recipient_activity": "activity of the addresses it paid (median transactions)",
    "profile": "investor profile",
}


def phrase(feature: str) -> str:
    return PHRASES.get(feature, feature.replace("_", " "))


def percentile(population: np.ndarray, value: float) -> float:
    """Share of `population` strictly below `value`, plus half the ties, in percent."""
    if len(population) == 0:
        return float("nan")
    below = np.count_nonzero(population < value)
    ties = np.count_nonzero(population == value)
    return float(100.0 * (below + 0.5 * ties) / len(population))


def percentiles(population: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`percentile(population, v)` for every v of `values`, vectorised (sorted population)."""
    if len(population) == 0:
        return np.full(len(values), np.nan)
    ordered = np.sort(population)
    below = np.searchsorted(ordered, values, side="left")
    not_above = np.searchsorted(ordered, values, side="right")
    return 100.0 * (below + 0.5 * (not_above - below)) / len(ordered)


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st…"""
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Reason:
    """One feature's push towards illicit for one address, with its context."""

    feature: str
    value: object
    shap: float
    percentile_all: float
    percentile_illicit: float

    def sentence(self) -> str:
        """E.g. "distinct addresses received from: 312, higher than 98 % of scored addresses
        (90th percentile of known illicit ones)"."""
        if isinstance(self.value, str):
            return f"{phrase(self.feature)}: {self.value}"
        text = f"{phrase(self.feature)}: {_number(float(self.value))}"
        if np.isnan(self.percentile_all):
            return text
        if self.percentile_all >= 50:
            text += f", higher than {self.percentile_all:.0f} % of scored addresses"
        else:
            text += f", lower than {100 - self.percentile_all:.0f} % of scored addresses"
        if not np.isnan(self.percentile_illicit):
            text += f" ({ordinal(round(self.percentile_illicit))} percentile of known illicit ones)"
        return text


def top_reasons(
    shap_row: np.ndarray,
    names: tuple[str, ...] | list[str],
    values: list[object],
    populations: dict[str, np.ndarray],
    illicit_populations: dict[str, np.ndarray],
    count: int = 3,
) -> list[Reason]:
    """The `count` features pushing most towards illicit (largest positive SHAP values); none
    when nothing pushes that way."""
    order = np.argsort(-shap_row)[:count]
    reasons = []
    for index in order:
        if shap_row[index] <= 0:
            break
        name = names[index]
        value = values[index]
        numeric = not isinstance(value, str)
        reasons.append(
            Reason(
                feature=name,
                value=value,
                shap=float(shap_row[index]),
                percentile_all=percentile(populations[name], float(value))
                if numeric and name in populations
                else float("nan"),
                percentile_illicit=percentile(illicit_populations[name], float(value))
                if numeric and name in illicit_populations
                else float("nan"),
            )
        )
    return reasons


def explain_rows(
    shap: np.ndarray,
    names: tuple[str, ...] | list[str],
    cleaned: dict[str, np.ndarray],
    illicit_rows: np.ndarray,
    count: int = 3,
) -> list[list[Reason]]:
    """Top reasons of every row: `shap` rows × features; `cleaned` the feature values the model
    saw per name (numeric arrays or text); `illicit_rows` a mask of the known illicit rows."""
    numeric = {n: v for n, v in cleaned.items() if v.dtype.kind in "fiub"}
    percentile_all = {n: percentiles(v, v) for n, v in numeric.items()}
    percentile_illicit = {n: percentiles(v[illicit_rows], v) for n, v in numeric.items()}
    order = np.argsort(-shap, axis=1)[:, :count]
    result = []
    for row in range(shap.shape[0]):
        reasons = []
        for index in order[row]:
            if shap[row, index] <= 0:
                break
            name = names[index]
            value = cleaned[name][row]
            reasons.append(
                Reason(
                    feature=name,
                    value=value if name not in numeric else float(value),
                    shap=float(shap[row, index]),
                    percentile_all=float(percentile_all[name][row])
                    if name in numeric
                    else float("nan"),
                    percentile_illicit=float(percentile_illicit[name][row])
                    if name in numeric
                    else float("nan"),
                )
            )
        result.append(reasons)
    return result
