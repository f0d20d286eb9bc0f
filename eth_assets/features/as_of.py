"""Parsing and defaulting the `as_of` cutoff that feature assets take as config."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from eth_assets.common.chain_time import as_utc, start_of_day


def parse_as_of(text: str) -> datetime:
    """An ISO date or timestamp as an aware UTC datetime; naive values are taken as UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ValueError(
            f"as_of {text!r} is not an ISO date or timestamp (e.g. 2019-04-25 or "
            "2019-04-25T00:00:00+00:00)"
        ) from error
    return as_utc(parsed)


def end_of_day(day: date) -> datetime:
    """Midnight UTC after `day`: the exclusive end of its daily partition."""
    return start_of_day(day + timedelta(days=1))


def default_as_of(last_day_in_lake: date | None) -> datetime:
    """The end of the latest day the lake holds of raw_transactions: the lake's own files decide
    what is there, not a record of runs (a run killed while recording events leaves both apart)."""
    if last_day_in_lake is None:
        raise ValueError(
            "the lake holds no day of raw_transactions yet: materialize a range first, "
            "or give `as_of` in the asset config"
        )
    return end_of_day(last_day_in_lake)
