"""What the unscheduled transactions of one day do: recipients, values, gas and token logs.

Each handler takes the senders of all transactions of one kind and returns their columns as
NumPy arrays (a TxPart) plus any ERC-20 Transfer logs (a LogPart); nothing loops per transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from eth_assets.chain.sim import archetypes as A
from eth_assets.chain.sim.activity import active_fraction
from eth_assets.chain.sim.amounts import ether, token_units
from eth_assets.chain.sim.archetypes import Kind
from eth_assets.chain.sim.population import HUGE_MINTS, Population

SECONDS_PER_DAY = 86400.0
LAST_SECOND = SECONDS_PER_DAY - 1e-3
TRANSFER_GAS = 21000
NEW_CONTRACT = -1  # `created`: a fresh contract address drawn for the day
NO_CONTRACT = -2
CREATION = -1  # `to`: contract creation (NULL to_address)
UNPRICED = -1  # `price`: draw the gas price when the day is assembled
# Hourly activity profile (UTC): busier in European and American hours.
HOURLY = np.array(
    [3, 2.5, 2.5, 2.5, 3, 3.5, 4, 4.5, 5, 5, 5, 5, 5.5, 6, 6.5, 6.5, 6, 5.5, 5, 4.5, 4, 4, 3.5, 3]
)
HOURLY_CDF = np.cumsum(HOURLY) / HOURLY.sum()


@dataclass
class TxPart:
    """Columns of some of a day's transactions, before ordering, nonces and hashes."""

    sender: np.ndarray
    to: np.ndarray  # account index, or CREATION
    kind: np.ndarray
    gwei: np.ndarray  # value = gwei * 10**9 + sub
    sub: np.ndarray
    gas_used: np.ndarray  # gas used when it succeeds
    fail_p: np.ndarray
    t: np.ndarray  # seconds into the day
    created: np.ndarray  # created contract: account index, NEW_CONTRACT or NO_CONTRACT
    price: np.ndarray  # wei per gas, or UNPRICED


@dataclass
class LogPart:
    """ERC-20 Transfer logs; `tx` indexes rows of the TxPart they were made with."""

    tx: np.ndarray
    seq: np.ndarray  # order within the transaction
    token: np.ndarray
    frm: np.ndarray  # account index; pop.n is the zero address (mints)
    to: np.ndarray
    mantissa: np.ndarray  # raw amount = mantissa * 10**exponent ...
    exponent: np.ndarray
    huge: np.ndarray  # ... unless huge >= 0: HUGE_MINTS[huge]


def empty_logs() -> LogPart:
    """A LogPart without rows."""
    return LogPart(*[np.zeros(0, np.int64) for _ in fields(LogPart)])


@dataclass
class DayContext:
    """What the handlers of one day share: population, day, RNG, gas level, weighted pickers."""

    pop: Population
    day: int
    rng: np.random.Generator
    gas_level_gwei: float
    active: np.ndarray = field(init=False)
    exists: np.ndarray = field(init=False)
    _pickers: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.active = active_fraction(self.pop, self.day)
        self.exists = self.pop.birth < self.day + 1

    def _weights(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Candidates and weights of a named recipient pool for this day."""
        pop, tok = self.pop, self.pop.tokens
        if name == "users":
            users = pop.indices(A.HOLDER, A.TRADER, A.HUNTER, A.DEPLOYER)
            return users, pop.rate[users] * self.active[users] + 1e-6
        if name == "p2p":
            eoa = np.flatnonzero(~pop.contract & (pop.p2p_weight > 0))
            return eoa, pop.p2p_weight[eoa] * (self.active[eoa] + 0.02)
        if name == "airdrop":
            target = np.flatnonzero(pop.airdrop_weight > 0)
            return target, pop.airdrop_weight[target] * self.exists[target]
        if name == "accomplice":  # scams that hold funds rather than forward them
            bad = np.flatnonzero(pop.illicit & ~pop.contract & ~pop.drains)
            return bad, self.active[bad] + 0.05
        if name in ("dapp", "dex"):
            dapps = pop.indices(A.DAPP_CONTRACT)
            if name == "dex":
                dapps = dapps[: max(2, len(dapps) // 2)]
            return dapps, self.exists[dapps] / (1.0 + np.arange(len(dapps)))
        if name in ("token", "airdrop_token"):
            weight = tok.popularity * self.exists[tok.account]
            if name == "airdrop_token":
                weight = weight * (tok.owner >= 0) * ~tok.scam
            return np.arange(len(tok.account)), weight
        raise KeyError(name)

    def pick(self, name: str, size: int) -> np.ndarray:
        """`size` weighted draws from a named pool (one that is empty today falls back to a
        wider one: airdrop tokens to tokens, anything else to users)."""
        if name not in self._pickers:
            candidates, weights = self._weights(name)
            if len(weights) == 0 or weights.sum() <= 0:
                return self.pick("token" if name == "airdrop_token" else "users", size)
            self._pickers[name] = (candidates, np.cumsum(weights))
        candidates, cdf = self._pickers[name]
        u = self.rng.random(size) * cdf[-1]
        return candidates[np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)]

    def pick_customer(self, exchanges: np.ndarray) -> np.ndarray:
        """For each exchange, one of its users (home exchange), weighted by activity; any user
        when it has none."""
        if "customers" not in self._pickers:
            users, weights = self._weights("users")
            order = np.argsort(self.pop.home_exchange[users], kind="stable")
            self._pickers["customers"] = (users[order], np.cumsum(weights[order]))
        users, cdf = self._pickers["customers"]
        home = self.pop.home_exchange[users]
        lo_idx = np.searchsorted(home, exchanges, side="left")
        hi_idx = np.searchsorted(home, exchanges, side="right")
        has = hi_idx > lo_idx
        lo = np.where(lo_idx > 0, cdf[np.maximum(lo_idx - 1, 0)], 0.0)
        hi = cdf[np.maximum(hi_idx - 1, 0)]
        u = lo + self.rng.random(len(exchanges)) * (hi - lo)
        chosen = users[np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)]
        return np.where(has, chosen, self.pick("users", len(exchanges)))

    def times(self, senders: np.ndarray) -> np.ndarray:
        """Seconds into the day, following the hourly profile; a sender funded today acts only
        after its funding arrives."""
        m = len(senders)
        hour = np.minimum(np.searchsorted(HOURLY_CDF, self.rng.random(m), side="right"), 23)
        t = (hour + self.rng.random(m)) * 3600.0
        start = self.pop.fund_tod[senders] + 60.0
        late = (self.pop.fund_day[senders] == self.day) & (t < start)
        t[late] = start[late] + self.rng.random(int(late.sum())) * (SECONDS_PER_DAY - start[late])
        return np.minimum(t, LAST_SECOND)

    def lognormal(self, median: np.ndarray, sigma: float) -> np.ndarray:
        """Lognormal draws around per-row medians."""
        return median * np.exp(sigma * self.rng.standard_normal(len(median)))

    def gas_price(self, m: int) -> np.ndarray:
        """Wei per gas: the day's level times a per-transaction spread, in whole mwei."""
        gwei = self.gas_level_gwei * np.exp(0.35 * self.rng.standard_normal(m))
        return (np.round(gwei * 1e3) * 1e6).astype(np.int64)


def make_part(
    ctx: DayContext,
    senders: np.ndarray,
    to: np.ndarray,
    kind: Kind | np.ndarray,
    gwei: np.ndarray | None = None,
    gas: np.ndarray | int = TRANSFER_GAS,
    fail_p: float | np.ndarray = 0.0,
    t: np.ndarray | None = None,
    sub: np.ndarray | None = None,
) -> TxPart:
    """A TxPart with defaults: zero value, plain-transfer gas, never failing, profile times.
    Float `gwei` is shaped by `ether`; with `sub` given, (gwei, sub) are taken as exact."""
    m = len(senders)
    if gwei is None:
        amount, cents = np.zeros(m, np.int64), np.zeros(m, np.int64)
    elif sub is None:
        amount, cents = ether(ctx.rng, gwei)
    else:
        amount, cents = gwei.astype(np.int64), sub.astype(np.int64)
    full = lambda v, dtype: np.broadcast_to(np.asarray(v, dtype), (m,)).copy()  # noqa: E731
    return TxPart(
        sender=senders.astype(np.int64),
        to=to.astype(np.int64),
        kind=full(kind, np.int8),
        gwei=amount,
        sub=cents,
        gas_used=full(gas, np.int64),
        fail_p=full(fail_p, float),
        t=ctx.times(senders) if t is None else np.minimum(t, LAST_SECOND),
        created=full(NO_CONTRACT, np.int64),
        price=full(UNPRICED, np.int64),
    )


def make_logs(
    ctx: DayContext,
    tx: np.ndarray,
    token: np.ndarray,
    frm: np.ndarray,
    to: np.ndarray,
    amount: np.ndarray,
    seq: np.ndarray | None = None,
) -> LogPart:
    """Transfer logs of `amount` token units each (exact raw units, see `token_units`)."""
    mantissa, exponent = token_units(ctx.rng, ctx.pop.tokens.decimals[token], amount)
    m = len(tx)
    return LogPart(
        tx=tx.astype(np.int64),
        seq=np.zeros(m, np.int64) if seq is None else seq,
        token=token.astype(np.int64),
        frm=frm.astype(np.int64),
        to=to.astype(np.int64),
        mantissa=mantissa,
        exponent=exponent,
        huge=np.full(m, -1, np.int64),
    )


def _call_gas(ctx: DayContext, m: int, low: int, high: int) -> np.ndarray:
    return ctx.rng.integers(low, high, m)


def _contact(ctx: DayContext, senders: np.ndarray) -> np.ndarray:
    contacts = ctx.pop.contacts
    return contacts[senders, ctx.rng.integers(0, contacts.shape[1], len(senders))]


def p2p(ctx: DayContext, senders: np.ndarray) -> tuple[TxPart, LogPart]:
    """Ether to a contact (75 %) or to anyone; amount around the sender's usual value."""
    m = len(senders)
    to = np.where(ctx.rng.random(m) < 0.75, _contact(ctx, senders), ctx.pick("p2p", m))
    gwei = ctx.lognormal(ctx.pop.value_gwei[senders], 1.0)
    return make_part(ctx, senders, to, Kind.P2P, gwei), empty_logs()


def deposit(ctx: DayContext, senders: np.ndarray) -> tuple[TxPart, LogPart]:
    """Ether to the sender's own exchange."""
    pop = ctx.pop
    gwei = ctx.lognormal(pop.value_gwei[senders], 1.0)
    return make_part(ctx, senders, pop.home_exchange[senders], Kind.DEPOSIT, gwei), empty_logs()


def withdraw(ctx: DayContext, senders: np.ndarray) -> tuple[TxPart, LogPart]:
    """An exchange pays one of its own active users an amount sized for the user."""
    to = ctx.pick_customer(senders)
    gwei = ctx.lognormal(ctx.pop.value_gwei[to], 1.0)
    return make_part(ctx, senders, to, Kind.WITHDRAW, gwei), empty_logs()


def _token_recipients(ctx: DayContext, senders: np.ndarray) -> np.ndarray:
    """Exchange 45 %, a DEX 25 %, anyone 15 %, a contact 15 %."""
    m = len(senders)
    u = ctx.rng.random(m)
    to = np.where(u < 0.45, ctx.pop.home_exchange[senders], _contact(ctx, senders))
    to = np.where((u >= 0.45) & (u < 0.7), ctx.pick("dex", m), to)
    return np.where((u >= 0.7) & (u < 0.85), ctx.pick("p2p", m), to)


def token_transfer(ctx: DayContext, senders: np.ndarray) -> tuple[TxPart, LogPart]:
    """An ERC-20 transfer call; fake-ICO owners hand out their own scam token."""
    pop, tok, m = ctx.pop, ctx.pop.tokens, len(senders)
    token = ctx.pick("token", m)
    hunter = pop.code[senders] == A.CODE[A.HUNTER.name]
    token = np.where(hunter & (ctx.rng.random(m) < 0.6), ctx.pick("airdrop_token", m), token)
    own = pop.owned_token[senders]
    scam_owner = (own >= 0) & tok.scam[np.maximum(own, 0)]
    scam_owner &= ctx.exists[tok.account[np.maximum(own, 0)]]
    token = np.where(scam_owner, own, token)
    to = np.where(scam_owner, ctx.pick("users", m), _token_recipients(ctx, senders))
    gas = _call_gas(ctx, m, 34000, 65000)
    part = make_part(ctx, senders, tok.account[token], Kind.TOKEN, gas=gas, fail_p=0.01)
    logs = make_logs(ctx, np.arange(m), token, senders, to, ctx.lognormal(tok.unit[token], 1.2))
    logs.huge = np.where(scam_owner & (ctx.rng.random(m) < 0.03), _huge(ctx, m), -1)
    return part, logs


def _huge(ctx: DayContext, m: int) -> np.ndarray:
    return ctx.rng.integers(0, len(HUGE_MINTS), m)


def exchange_token(ctx: DayContext, senders: np.ndarray) -> tuple[TxPart, LogPart]:
    """An exchange pays a user in tokens."""
    tok, m = ctx.pop.tokens, len(senders)
    token = ctx.pick("token", m)
    to = ctx.pick("users", m)
    gas = _call_gas(ctx, m, 45000, 65000)
    part = make_part(ctx, senders, tok.account[token], Kind.EXCHANGE_TOKEN, gas=gas)
    amount = ctx.lognormal(tok.unit[token], 1.2)
    return part, make_logs(ctx, np.arange(m), token, senders, to, amount)


def swap(ctx: DayContext, senders: np.ndarray) -> tuple[TxPart, LogPart]:
    """A DEX trade: buy tokens with ether (60 %) or sell tokens; fails now and then."""
    pop, tok, m = ctx.pop, ctx.pop.tokens, len(senders)
    dex = ctx.pick("dex", m)
    buy = ctx.rng.random(m) < 0.6
    gwei = ctx.lognormal(pop.value_gwei[senders] * 0.5, 1.0)
    part = make_part(ctx, senders, dex, Kind.SWAP, gwei, _call_gas(ctx, m, 110000, 220000), 0.04)
    part.gwei[~buy], part.sub[~buy] = 0, 0
    token = ctx.pick("token", m)
    frm, to = np.where(buy, dex, senders), np.where(buy, senders, dex)
    amount = ctx.lognormal(tok.unit[token], 1.3)
    return part, make_logs(ctx, np.arange(m), token, frm, to, amount)


def dapp_call(ctx: DayContext, senders: np.ndarray) -> tuple[TxPart, LogPart]:
    """A contract call, mostly without ether; airdrop hunters claim tokens (and fail more)."""
    pop, tok, m = ctx.pop, ctx.pop.tokens, len(senders)
    hunter = pop.code[senders] == A.CODE[A.HUNTER.name]
    dapp = ctx.pick("dapp", m)
    pay = ctx.rng.random(m) < 0.25
    gwei = ctx.lognormal(pop.value_gwei[senders] * 0.2, 1.0)
    fail = np.where(hunter, 0.12, 0.04)
    part = make_part(ctx, senders, dapp, Kind.DAPP, gwei, _call_gas(ctx, m, 45000, 300000), fail)
    part.gwei[~pay], part.sub[~pay] = 0, 0
    claim = np.flatnonzero(ctx.rng.random(m) < np.where(hunter, 0.5, 0.05))
    token = ctx.pick("airdrop_token", len(claim))
    amount = ctx.lognormal(tok.unit[token] * 5, 0.8)
    return part, make_logs(ctx, claim, token, dapp[claim], senders[claim], amount)


def create(ctx: DayContext, senders: np.ndarray) -> tuple[TxPart, LogPart]:
    """A contract creation (to_address NULL) of a throwaway contract."""
    m = len(senders)
    gas = np.clip(ctx.lognormal(np.full(m, 600000.0), 0.7), 100000, 6000000).astype(np.int64)
    part = make_part(ctx, senders, np.full(m, CREATION), Kind.CREATE, gas=gas, fail_p=0.05)
    part.created[:] = NEW_CONTRACT
    return part, empty_logs()


def payout(ctx: DayContext, senders: np.ndarray) -> tuple[TxPart, LogPart]:
    """A mining pool pays one of its members."""
    pop, m = ctx.pop, len(senders)
    start, count = np.zeros(m, np.int64), np.zeros(m, np.int64)
    for pool, (first, size) in pop.pool_offsets.items():  # a handful of pools
        mine = senders == pool
        start[mine], count[mine] = first, size
    to = ctx.pick("users", m)
    has = count > 0
    draw = np.floor(ctx.rng.random(int(has.sum())) * count[has]).astype(np.int64)
    to[has] = pop.pool_members[start[has] + draw]
    gwei = ctx.lognormal(pop.value_gwei[senders], 0.6)
    return make_part(ctx, senders, to, Kind.PAYOUT, gwei), empty_logs()


def airdrop(ctx: DayContext, senders: np.ndarray) -> tuple[TxPart, LogPart]:
    """A token owner sends its token to many addresses in one transaction (one amount per
    campaign); accounts without a live token call a dapp instead."""
    pop, tok = ctx.pop, ctx.pop.tokens
    own = pop.owned_token[senders]
    can = (own >= 0) & ctx.exists[tok.account[np.maximum(own, 0)]]
    if not can.all():
        parts = [dapp_call(ctx, senders[~can])]
        if can.any():
            parts.append(airdrop(ctx, senders[can]))
        return concat_parts(parts)
    m = len(senders)
    n_logs = np.clip(ctx.lognormal(np.full(m, 30.0), 0.9), 3, 300).astype(np.int64)
    part = make_part(ctx, senders, tok.account[own], Kind.AIRDROP, gas=30000 + 27000 * n_logs,
                     fail_p=0.02)  # fmt: skip
    tx = np.repeat(np.arange(m), n_logs)
    seq = np.arange(len(tx)) - np.repeat(np.cumsum(n_logs) - n_logs, n_logs)
    campaign = tok.unit[own] * ctx.rng.choice([0.1, 1.0, 10.0], m)
    mantissa, exponent = token_units(ctx.rng, tok.decimals[own], campaign)
    logs = make_logs(ctx, tx, own[tx], senders[tx], ctx.pick("airdrop", len(tx)), campaign[tx], seq)
    logs.mantissa, logs.exponent = mantissa[tx], exponent[tx]
    spam = tok.scam[own] & (ctx.rng.random(m) < 0.03)
    logs.huge = np.where(spam[tx], _huge(ctx, m)[tx], -1)
    return part, logs


def concat_parts(parts: list[tuple[TxPart, LogPart]]) -> tuple[TxPart, LogPart]:
    """One TxPart and one LogPart from many, re-basing each log's `tx` on the joined rows."""
    offsets = np.cumsum([0] + [len(p.sender) for p, _ in parts])
    joined = {
        f.name: np.concatenate([getattr(p, f.name) for p, _ in parts]) for f in fields(TxPart)
    }
    logs = [lp for _, lp in parts]
    log_cols = {
        f.name: np.concatenate([getattr(lp, f.name) for lp in logs]) for f in fields(LogPart)
    }
    log_cols["tx"] = np.concatenate(
        [lp.tx + off for lp, off in zip(logs, offsets[:-1], strict=True)]
    )
    return TxPart(**joined), LogPart(**log_cols)


HANDLERS = {
    Kind.P2P: p2p,
    Kind.DEPOSIT: deposit,
    Kind.WITHDRAW: withdraw,
    Kind.TOKEN: token_transfer,
    Kind.EXCHANGE_TOKEN: exchange_token,
    Kind.SWAP: swap,
    Kind.DAPP: dapp_call,
    Kind.CREATE: create,
    Kind.PAYOUT: payout,
    Kind.AIRDROP: airdrop,
}
