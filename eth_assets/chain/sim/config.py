"""Configuration of the simulated chain: one frozen, hashable value decides every byte."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

# Block numbers are extrapolated from an anchor block; before this date they would be negative.
EARLIEST_START = date(2016, 6, 1)


@dataclass(frozen=True)
class SimConfig:
    """Size, span, seed and label noise of a simulated chain.

    The defaults make ~3,000 accounts and ~200k transactions over 180 days: small enough for the
    whole downstream graph to run in well under two minutes on two cores.
    """

    seed: int = 42
    n_accounts: int = 3000
    start_date: date = date(2021, 1, 1)
    days: int = 180
    illicit_share: float = 0.15
    label_noise: float = 0.05  # share of illicit accounts missing from the darklist
    false_listing_share: float = 0.005  # share of normal accounts wrongly on the darklist
    activity: float = 1.0  # multiplies every account's transaction rate

    def __post_init__(self) -> None:
        problems = []
        if self.seed < 0:
            problems.append(f"seed must be >= 0, got {self.seed}")
        if self.n_accounts < 200:
            problems.append(f"n_accounts must be >= 200, got {self.n_accounts}")
        if self.days < 1:
            problems.append(f"days must be >= 1, got {self.days}")
        if self.start_date < EARLIEST_START:
            problems.append(f"start_date must be >= {EARLIEST_START}, got {self.start_date}")
        for name in ("illicit_share", "label_noise", "false_listing_share"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                problems.append(f"{name} must be in [0, 1), got {value}")
        if self.activity <= 0:
            problems.append(f"activity must be > 0, got {self.activity}")
        if problems:
            raise ValueError("invalid SimConfig: " + "; ".join(problems))

    @property
    def end_date(self) -> date:
        """The last simulated day (inclusive)."""
        return self.start_date + timedelta(days=self.days - 1)

    def day_date(self, day: int) -> date:
        """Calendar date of day index `day` (0 = start_date)."""
        return self.start_date + timedelta(days=day)

    def day_index(self, when: date) -> int:
        """Day index of a calendar date (may lie outside [0, days))."""
        return (when - self.start_date).days
