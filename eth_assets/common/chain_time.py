"""Time on the chain: Ethereum's genesis day and aware UTC datetimes (block times are UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time


def start_of_day(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time.min, tzinfo=UTC)


# The first UTC day with blocks: the first daily partition, and where full-history scans start.
GENESIS_DATE = date(2015, 7, 30)
GENESIS = start_of_day(GENESIS_DATE)


def as_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
