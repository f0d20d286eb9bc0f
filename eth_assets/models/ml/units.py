"""Feature values in units a person reads: ether in ETH, durations in minutes, hours or days,
shares in percent, counts as whole numbers. Used by reasons and profile descriptions alike."""

from __future__ import annotations

import math

# The unit each feature is measured in, as address_features and behaviour_features store it.
ETH, MINUTES, DAYS, COUNT, SHARE, TOKENS, RATIO, BITS = (
    "ETH",
    "minutes",
    "days",
    "count",
    "share",
    "token units",
    "ratio",
    "bits",
)
_BY_PREFIX: tuple[tuple[str, str], ...] = (
    ("erc20_avg_time_between", MINUTES),
    ("erc20_uniq", COUNT),
    ("erc20_total_erc20", COUNT),
    ("erc20_", TOKENS),
)
UNITS: dict[str, str] = {
    "avg_min_between_sent_tnx": MINUTES,
    "avg_min_between_received_tnx": MINUTES,
    "time_diff_between_first_and_last_mins": MINUTES,
    "first_received_to_first_sent_mins": MINUTES,
    "sent_tnx": COUNT,
    "received_tnx": COUNT,
    "number_of_created_contracts": COUNT,
    "unique_received_from_addresses": COUNT,
    "unique_sent_to_addresses": COUNT,
    "total_transactions": COUNT,
    "total_erc20_tnxs": COUNT,
    "unique_tokens_held": COUNT,
    "unique_token_transfers": COUNT,
    "median_sender_activity": COUNT,
    "median_recipient_activity": COUNT,
    "transactions": COUNT,
    "counterparties": COUNT,
    "min_value_received": ETH,
    "max_value_received": ETH,
    "avg_val_received": ETH,
    "min_val_sent": ETH,
    "max_val_sent": ETH,
    "avg_val_sent": ETH,
    "min_value_sent_to_contract": ETH,
    "max_val_sent_to_contract": ETH,
    "avg_value_sent_to_contract": ETH,
    "total_ether_sent": ETH,
    "total_ether_received": ETH,
    "total_ether_sent_contracts": ETH,
    "total_ether_balance": ETH,
    "sent_diff_between_max_and_min": ETH,
    "balance_eth": ETH,
    "ether_volume": ETH,
    "failed_sent_share": SHARE,
    "contract_call_share": SHARE,
    "zero_value_sent_share": SHARE,
    "round_value_sent_share": SHARE,
    "round_value_received_share": SHARE,
    "distinct_gas_price_share": SHARE,
    "gas_used_ratio": SHARE,
    "busiest_day_share": SHARE,
    "sent_share": SHARE,
    "token_share": SHARE,
    "contract_share": SHARE,
    "gas_price_vs_day": RATIO,
    "gas_price_cv": RATIO,
    "hour_entropy": BITS,
    "active_days": DAYS,
}


def unit(feature: str) -> str:
    """The unit `feature` is stored in ("" when it has none, e.g. a token name)."""
    if feature in UNITS:
        return UNITS[feature]
    for prefix, kind in _BY_PREFIX:
        if feature.startswith(prefix):
            return kind
    return ""


def _plain(value: float, digits: int = 3) -> str:
    """A number rounded for people: thousands separated, about `digits` significant digits."""
    if value == 0:
        return "0"
    if abs(value) >= 1000 or value == int(value):
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.{digits}g}"


def duration(minutes: float) -> str:
    """Minutes as the largest sensible unit: "45 min", "5.1 hours", "3.2 days", "1.4 years"."""
    if abs(minutes) < 90:
        return f"{minutes:.0f} min" if abs(minutes) >= 10 else f"{_plain(minutes)} min"
    hours = minutes / 60
    if abs(hours) < 48:
        return f"{hours:.1f} hours"
    days = hours / 24
    if abs(days) < 730:
        return f"{days:,.1f} days"
    return f"{days / 365.25:.1f} years"


def readable(feature: str, value: object) -> str:
    """`value` of `feature` in its unit, rounded for people: "0.453 ETH", "3.2 days", "12 %"."""
    if value is None:
        return "unknown"
    if isinstance(value, str):
        return value
    number = float(value)  # type: ignore[arg-type]
    if math.isnan(number):
        return "unknown"
    kind = unit(feature)
    if kind == MINUTES:
        return duration(number)
    if kind == DAYS:
        return duration(number * 1440.0)
    if kind == SHARE:
        return f"{number * 100:.0f} %" if abs(number) >= 0.01 or number == 0 else "< 1 %"
    if kind == ETH:
        return f"{_plain(number)} ETH"
    if kind == COUNT:
        return f"{number:,.0f}"
    if kind == RATIO:
        return f"{number:.2f}×"
    if kind == BITS:
        return f"{number:.2f} bits"
    if kind == TOKENS:
        return f"{_plain(number)} token units"
    return _plain(number)
