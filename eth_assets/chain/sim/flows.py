"""Transactions the day's plan fixes in advance: funding of new accounts, relay sweeps, contract
creations, victims' payments to scams and the scams' forwarding of their takings.

Relays and draining scams forward exactly what arrived minus the gas they pay, so their ether
balance ends the day at exactly zero, as "send max" wallets do on the real chain.
"""

from __future__ import annotations

import numpy as np

from eth_assets.chain.sim import archetypes as A
from eth_assets.chain.sim.activity import DayCounts, Schedule, takings
from eth_assets.chain.sim.amounts import ether, minus_wei, token_units
from eth_assets.chain.sim.archetypes import Kind
from eth_assets.chain.sim.behaviour import (
    CREATION,
    LAST_SECOND,
    SECONDS_PER_DAY,
    TRANSFER_GAS,
    DayContext,
    LogPart,
    TxPart,
    empty_logs,
    make_part,
)
from eth_assets.chain.sim.population import HUGE_MINTS


def _expand(groups: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Repeat each group `count` times (count >= 1): (rows' group, position in group, first row
    of each group)."""
    rows = np.repeat(groups, count)
    first = np.cumsum(count) - count
    return rows, np.arange(len(rows)) - np.repeat(first, count), first


def _split_exact(
    gwei: np.ndarray, sub: np.ndarray, count: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Split each group's exact (gwei, sub) amount into `count` parts by `weights` (one weight
    per row); the last part of a group takes the remainder, so parts sum exactly."""
    _, k, first = _expand(np.arange(len(count)), count)
    share = weights / np.repeat(np.add.reduceat(weights, first), count)
    parts = np.floor(np.repeat(np.maximum(gwei, 0), count) * share).astype(np.int64)
    last = k == np.repeat(count - 1, count)
    before_last = np.repeat(np.add.reduceat(np.where(last, 0, parts), first), count)
    parts = np.where(last, np.repeat(gwei, count) - before_last, parts)
    return np.maximum(parts, 0), np.where(last, np.repeat(sub, count), 0)


def _drain(
    ctx: DayContext, part: TxPart, gwei: np.ndarray, sub: np.ndarray, count: np.ndarray,
    weights: np.ndarray,
) -> None:  # fmt: skip
    """Price `part` (one group of `count` rows per amount) and set its values so each group
    sends exactly its amount minus its own gas."""
    part.price = ctx.gas_price(len(part.sender))
    fee = part.price * TRANSFER_GAS
    _, _, first = _expand(np.arange(len(count)), count)
    net_gwei, net_sub = minus_wei(gwei, sub, np.add.reduceat(fee, first))
    part.gwei, part.sub = _split_exact(net_gwei, net_sub, count, weights)


def funding(ctx: DayContext, funded: np.ndarray) -> tuple[TxPart, LogPart]:
    """Each funded account receives ether: relays a round amount in one or two parts."""
    pop, rng = ctx.pop, ctx.rng
    count = pop.fund_count[funded]
    acct, k, _ = _expand(funded, count)
    gwei, sub = ether(rng, ctx.lognormal(pop.fund_gwei[acct], 0.5))
    relay = pop.sweep_count[acct] > 0
    total = pop.fund_gwei[acct].astype(np.int64)
    share = np.repeat(rng.uniform(0.2, 0.8, len(funded)), count)  # one split per account
    split = np.round(total * share / 1e7).astype(np.int64) * 10**7
    relay_gwei = np.where(
        np.repeat(count, count) == 1, total, np.where(k == 0, split, total - split)
    )
    gwei, sub = np.where(relay, relay_gwei, gwei), np.where(relay, 0, sub)
    senders = pop.funder[acct]
    kind = np.where(pop.code[senders] == A.CODE[A.EXCHANGE.name], Kind.WITHDRAW, Kind.P2P)
    t = pop.fund_tod[acct] + k * rng.exponential(240.0, len(acct))
    return make_part(ctx, senders, acct, kind, gwei, t=t, sub=sub), empty_logs()


def sweeps(ctx: DayContext, relays: np.ndarray) -> tuple[TxPart, LogPart]:
    """Relays forward everything within the hour (often in equal parts) and end at zero."""
    pop, rng = ctx.pop, ctx.rng
    count = pop.sweep_count[relays]
    acct, k, first = _expand(relays, count)
    to = np.where((k == 0) & (rng.random(len(acct)) < 0.5), pop.home_exchange[acct],
                  ctx.pick("p2p", len(acct)))  # fmt: skip
    gaps = rng.exponential(900.0, len(acct))
    elapsed = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first] - gaps[first], count)
    t = pop.fund_tod[acct] + 600.0 + elapsed
    part = make_part(ctx, acct, to, Kind.P2P, t=t)
    equal = np.repeat(rng.random(len(relays)) < 0.6, count)
    weights = np.where(equal, 1.0, rng.exponential(1.0, len(acct)))
    total = pop.fund_gwei[relays].astype(np.int64)
    _drain(ctx, part, total, np.zeros(len(relays), np.int64), count, weights)
    return part, empty_logs()


def creations(ctx: DayContext, contracts: np.ndarray) -> tuple[TxPart, LogPart]:
    """Registered contracts come to life: by a creation transaction, or by a call to a factory
    contract (then no transaction names them). Tokens mint their supply to their creator in
    that transaction; scam tokens mint a uint256-sized amount."""
    pop, rng, tok = ctx.pop, ctx.rng, ctx.pop.tokens
    m = len(contracts)
    senders = pop.creator[contracts]
    factory = pop.via_factory[contracts]
    to = np.where(factory, ctx.pick("dapp", m), CREATION)
    gas = np.clip(ctx.lognormal(np.full(m, 1.5e6), 0.5), 300000, 7000000).astype(np.int64)
    t = (pop.birth[contracts] % 1.0) * SECONDS_PER_DAY
    part = make_part(ctx, senders, to, Kind.CREATE, gas=gas, t=t)
    part.created = np.where(factory, part.created, contracts)
    token_of = np.full(pop.n, -1, np.int64)
    token_of[tok.account] = np.arange(len(tok.account))
    rows = np.flatnonzero(token_of[contracts] >= 0)
    token = token_of[contracts[rows]]
    supply = tok.unit[token] * 10.0 ** rng.uniform(5, 9, len(rows))
    mantissa, exponent = token_units(rng, tok.decimals[token], supply)
    logs = LogPart(
        tx=rows, seq=np.zeros(len(rows), np.int64), token=token,
        frm=np.full(len(rows), pop.n, np.int64), to=senders[rows], mantissa=mantissa,
        exponent=exponent,
        huge=np.where(tok.scam[token], rng.integers(0, len(HUGE_MINTS), len(rows)), -1),
    )  # fmt: skip
    return part, logs


def scam_payments(ctx: DayContext, counts: DayCounts) -> tuple[TxPart, LogPart]:
    """Victims pay scams (amounts fixed by the counts stream); paying a Ponzi contract is a call
    that may fail."""
    pop, m = ctx.pop, len(counts.scam)
    to_contract = pop.contract[counts.scam]
    gas = np.where(to_contract, ctx.rng.integers(50000, 120000, m), TRANSFER_GAS)
    fail = np.where(to_contract, 0.02, 0.0)
    part = make_part(ctx, counts.victim, counts.scam, Kind.SCAM_PAY, counts.pay_gwei, gas, fail,
                     sub=counts.pay_sub)  # fmt: skip
    return part, empty_logs()


def forwards(ctx: DayContext, counts: DayCounts, paid_at: np.ndarray) -> tuple[TxPart, LogPart]:
    """Draining scams forward the day's takings after the last payment arrives: to their
    exchange, an accomplice or anyone, in equal parts, keeping nothing."""
    pop, rng = ctx.pop, ctx.rng
    scams = np.flatnonzero(counts.forwards)
    count = counts.forwards[scams]
    acct, _, _ = _expand(scams, count)
    u = rng.random(len(acct))
    to = np.where(u < 0.45, pop.home_exchange[acct], ctx.pick("p2p", len(acct)))
    to = np.where((u >= 0.45) & (u < 0.7), ctx.pick("accomplice", len(acct)), to)
    last_in = np.full(pop.n, 0.0)
    np.maximum.at(last_in, counts.scam, paid_at)
    start = last_in[acct] + 30.0
    t = np.minimum(start + rng.random(len(acct)) * (SECONDS_PER_DAY - start), LAST_SECOND)
    part = make_part(ctx, acct, to, Kind.LAUNDER, t=t)
    gwei, sub = takings(counts, pop.n)
    _drain(ctx, part, gwei[scams], sub[scams], count, np.ones(len(acct)))
    return part, empty_logs()


def planned_parts(
    ctx: DayContext, plan: Schedule, counts: DayCounts
) -> list[tuple[TxPart, LogPart]]:
    """Every transaction of the day that the plan fixes (see the module docstring)."""
    parts = []
    if len(plan.funded):
        parts.append(funding(ctx, plan.funded))
    if len(plan.swept):
        parts.append(sweeps(ctx, plan.swept))
    if len(plan.created):
        parts.append(creations(ctx, plan.created))
    if len(counts.scam):
        paid = scam_payments(ctx, counts)
        parts.append(paid)
        if counts.forwards.any():
            parts.append(forwards(ctx, counts, paid[0].t))
    return parts
