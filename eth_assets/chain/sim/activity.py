"""Who sends how many transactions on a day, and the nonces that follow from it.

Counts come from their own RNG stream per day (seed, date, COUNTS), separate from the stream that
decides what the transactions do, so the nonce an account starts a day with is the sum of earlier
days' counts: computable for any day without generating earlier days' transactions. Scam flows
are decided here too (who pays which scam how much, how many times the scam forwards it), since
they decide who sends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eth_assets.chain.sim import archetypes as A
from eth_assets.chain.sim.amounts import ether, wei_parts_sum
from eth_assets.chain.sim.config import SimConfig
from eth_assets.chain.sim.population import Population

COUNTS_STREAM = 1
DETAILS_STREAM = 2
WEEKEND_FACTOR = 0.85
CYCLE_DAYS = 90.0
CYCLE_AMPLITUDE = 0.2
MIN_FORWARD_GWEI = 2e6  # a scam leaves takings below 0.002 ETH in place


def day_rng(config: SimConfig, day: int, stream: int) -> np.random.Generator:
    """The RNG of one day and stream, from (seed, calendar date ordinal, stream) alone."""
    entropy = [config.seed, config.day_date(day).toordinal(), stream]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def activity_factor(config: SimConfig, day: int) -> float:
    """Chain-wide activity of a day: quieter weekends and a slow market cycle."""
    when = config.day_date(day)
    weekend = WEEKEND_FACTOR if when.weekday() >= 5 else 1.0
    return weekend * (1.0 + CYCLE_AMPLITUDE * np.sin(2 * np.pi * when.toordinal() / CYCLE_DAYS))


def active_fraction(pop: Population, day: int) -> np.ndarray:
    """Share of day `day` inside each account's active span [birth, death]."""
    return np.clip(np.minimum(pop.death, day + 1) - np.maximum(pop.birth, day), 0.0, 1.0)


@dataclass(frozen=True)
class DayCounts:
    """Sends of one day: unscheduled counts per account, scam payments, scam forwardings."""

    random: np.ndarray  # unscheduled sends per account
    victim: np.ndarray  # one row per scam payment: who pays ...
    scam: np.ndarray  # ... which scam ...
    pay_gwei: np.ndarray  # ... how much (gwei + sub-gwei wei)
    pay_sub: np.ndarray
    forwards: np.ndarray  # per account: forwarding transactions of the day's takings

    def sends(self) -> np.ndarray:
        """Transactions each account sends on the day, scheduled ones excepted."""
        n = len(self.random)
        return self.random + np.bincount(self.victim, minlength=n) + self.forwards


def _scam_payments(
    pop: Population, rng: np.random.Generator, active: np.ndarray, factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """(victim, scam) pairs: each active scam draws victims among the day's active users, any
    of them alike (a phishing site does not pick heavy traders)."""
    lam = pop.scam_rate * active * factor
    live = np.flatnonzero(lam > 0)
    per_scam = rng.poisson(lam[live])
    scam = np.repeat(live, per_scam)
    users = pop.indices(A.HOLDER, A.TRADER, A.HUNTER, A.DEPLOYER)
    cdf = np.cumsum(active[users] + 1e-3)
    victim = users[np.minimum(np.searchsorted(cdf, rng.random(len(scam)) * cdf[-1]), len(cdf) - 1)]
    return victim, scam


def _forward_counts(
    pop: Population, rng: np.random.Generator, scam: np.ndarray, gwei: np.ndarray
) -> np.ndarray:
    """Forwardings per scam: one per day with takings, plus more as payments pile up; none for
    contracts, for scams that sit on their loot, and for dust."""
    n = pop.n
    payments = np.bincount(scam, minlength=n)
    inflow = np.bincount(scam, weights=gwei.astype(float), minlength=n)
    forwards = 1 + rng.binomial(np.maximum(payments - 1, 0), pop.split_p)
    keep = pop.contract | ~pop.drains | (inflow < MIN_FORWARD_GWEI) | (payments == 0)
    return np.where(keep, 0, forwards).astype(np.int64)


def day_counts(pop: Population, config: SimConfig, day: int) -> DayCounts:
    """Everything about who sends on `day`, from the day's counts stream alone."""
    rng = day_rng(config, day, COUNTS_STREAM)
    active = active_fraction(pop, day)
    factor = activity_factor(config, day)
    lam = pop.rate * active * factor
    counts = np.zeros(pop.n, np.int64)
    live = np.flatnonzero(lam > 0)
    counts[live] = rng.poisson(lam[live])
    victim, scam = _scam_payments(pop, rng, active, factor)
    median = pop.victim_gwei[scam] * np.exp(pop.victim_sigma[scam] * rng.standard_normal(len(scam)))
    pay_gwei, pay_sub = ether(rng, median)
    forwards = _forward_counts(pop, rng, scam, pay_gwei)
    return DayCounts(counts, victim, scam, pay_gwei, pay_sub, forwards)


def takings(counts: DayCounts, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (gwei, sub) each scam received on the day."""
    return wei_parts_sum(counts.pay_gwei, counts.pay_sub, counts.scam, n)


@dataclass(frozen=True)
class Schedule:
    """Transactions fixed by the population: funding, relay sweeps and contract creations."""

    funded: np.ndarray  # accounts funded on the day (each gets fund_count transactions)
    swept: np.ndarray  # relays that sweep their funds out on the day
    created: np.ndarray  # contracts created on the day


def creation_day(pop: Population) -> np.ndarray:
    """Day index of each contract's creation transaction, or -1 when it is not simulated."""
    day = np.floor(np.clip(pop.birth, -1, 10**6)).astype(np.int64)
    return np.where((pop.creator >= 0) & (pop.birth >= 0), day, -1)


def schedule(pop: Population, day: int) -> Schedule:
    """The scheduled transactions of `day`."""
    funded = np.flatnonzero(pop.fund_day == day)
    return Schedule(
        funded=funded,
        swept=funded[pop.sweep_count[funded] > 0],
        created=np.flatnonzero(creation_day(pop) == day),
    )


def scheduled_sends_before(pop: Population, day: int) -> np.ndarray:
    """Scheduled sends per account on days [0, day)."""
    earlier = (pop.fund_day >= 0) & (pop.fund_day < day)
    sends = np.bincount(pop.funder[earlier], weights=pop.fund_count[earlier], minlength=pop.n)
    sends += np.where(earlier, pop.sweep_count, 0)
    created = creation_day(pop)
    made = (created >= 0) & (created < day)
    sends += np.bincount(pop.creator[made], minlength=pop.n)
    return sends.astype(np.int64)


_memo: dict[SimConfig, tuple[int, np.ndarray]] = {}


def sends_before(pop: Population, config: SimConfig, day: int) -> np.ndarray:
    """Unscheduled sends per account on days [0, day); remembers the last answer so that
    generating days in order costs one day of counts each."""
    start, total = 0, np.zeros(pop.n, np.int64)
    cached = _memo.get(config)
    if cached is not None and cached[0] <= day:
        start, total = cached[0], cached[1].copy()
    for earlier in range(start, day):
        total += day_counts(pop, config, earlier).sends()
    _memo.clear()
    _memo[config] = (day, total.copy())
    return total


def forget_nonce_memo() -> None:
    """Drop the remembered send counts (as a fresh process would start)."""
    _memo.clear()


def nonce_base(pop: Population, config: SimConfig, day: int) -> np.ndarray:
    """The nonce of each account's first transaction on `day`."""
    return pop.nonce0 + scheduled_sends_before(pop, day) + sends_before(pop, config, day)
