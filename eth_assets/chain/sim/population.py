"""The accounts of a simulated chain and their fixed attributes, drawn from a seed-only RNG.

Everything here depends on the configuration alone (never on a day), so any day can be generated
on its own: archetypes, addresses, active spans, rates, value scales, exchanges, contacts, mining
pools, tokens, scheduled events (funding, relay sweeps, contract creations) and starting nonces.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from eth_assets.chain.sim import archetypes as A
from eth_assets.chain.sim.config import SimConfig
from eth_assets.chain.sim.encoding import hex_rows

POPULATION_STREAM = 0x5EED
ALWAYS = 1e7  # birth/death far outside any window: "always active"
N_CONTACTS = 4
GWEI_PER_ETH = 1e9
# Normal accounts: archetype → share of normal externally owned accounts.
NORMAL_EOA_SHARES = {
    A.HOLDER: 0.34, A.RELAY: 0.33, A.TRADER: 0.12, A.HUNTER: 0.12, A.DEPLOYER: 0.02,
    A.MERCHANT: 0.07,
}  # fmt: skip
# Illicit accounts: archetype → share of illicit accounts (each fake ICO also has its scam token).
ILLICIT_SHARES = {A.PHISHING: 0.47, A.IMPERSONATOR: 0.23, A.ICO_OWNER: 0.11, A.PONZI: 0.08}
# Special normal accounts: archetype → (share of all accounts, minimum count).
SPECIAL_COUNTS = {
    A.EXCHANGE: (0.004, 3),
    A.POOL: (0.002, 2),
    A.TOKEN_CONTRACT: (0.012, 10),
    A.DAPP_CONTRACT: (0.004, 4),
}
EXCHANGE_WITHDRAWALS_PER_USER_DAY = 0.22
POOL_PAYOUTS_PER_MEMBER_DAY = 0.12
POOL_MEMBER_SHARE = 0.12
CAMOUFLAGE_STRETCH = 12.0
RELAY_FUND_ETH = np.array([1, 2, 5, 10, 20, 50, 100, 200, 500], float)
RELAY_FUND_P = np.array([4, 4, 8, 12, 10, 12, 30, 12, 8], float)
HUGE_MINTS = [str(2**255), str(2**256 - 1), str(10**77), str(2**255 + 2**254), str(2**200)]
_SYLLABLES = [
    "ar", "bel", "cor", "dex", "ev", "fin", "gal", "hex", "ion", "jet", "kai", "lum", "mor", "nex",
    "orb", "pix", "qua", "rex", "sol", "tau", "uni", "vex", "wav", "xen", "yol", "zen", "bit",
    "coin", "dao", "eth", "fly", "gem", "hub", "kin", "lux", "nova",
]  # fmt: skip
_SUFFIXES = ("Token", "Coin", "Network", "Protocol", "Finance", "Chain", "Cash", "Gold", "DAO")


@dataclass(frozen=True)
class Tokens:
    """ERC-20 tokens: the contract account of each, its metadata, popularity and amount scale."""

    account: np.ndarray  # account index of the token contract
    decimals: np.ndarray  # int32: 0, 6 or 18
    name: list[str]
    symbol: list[str]
    popularity: np.ndarray  # weight when a holder picks a token to move or buy
    unit: np.ndarray  # median amount per transfer, in token units
    owner: np.ndarray  # account that airdrops / distributes it, -1 for none
    scam: np.ndarray  # bool: a fake-ICO token


@dataclass(frozen=True)
class Population:
    """Per-account attributes (arrays indexed by account) of one simulated chain."""

    n: int
    code: np.ndarray  # archetype code (int16)
    illicit: np.ndarray
    contract: np.ndarray
    addr: np.ndarray  # (n + 1, 42) ASCII; row n is the zero address (mints)
    birth: np.ndarray  # fractional day index; the fraction is the time of day
    death: np.ndarray
    rate: np.ndarray  # sends per active day
    value_gwei: np.ndarray  # median ether amount of its sends
    victim_gwei: np.ndarray  # median payment a victim sends it (scams)
    victim_sigma: np.ndarray
    scam_rate: np.ndarray  # victim payments per active day
    drains: np.ndarray  # bool: forwards its takings the day they arrive
    split_p: np.ndarray
    airdrop_weight: np.ndarray
    p2p_weight: np.ndarray
    home_exchange: np.ndarray
    contacts: np.ndarray  # (n, N_CONTACTS)
    fund_day: np.ndarray  # day of its scheduled funding transaction(s), -1 for none
    fund_tod: np.ndarray  # seconds into that day
    funder: np.ndarray
    fund_count: np.ndarray
    fund_gwei: np.ndarray  # total funded (relays: a round amount)
    sweep_count: np.ndarray  # relay outflows right after funding
    creator: np.ndarray  # contract creator, -1 for none
    via_factory: np.ndarray  # bool: created by a call to a factory contract, not a creation tx
    nonce0: np.ndarray  # sends before the simulated span
    owned_token: np.ndarray  # token id it airdrops / distributes, -1 for none
    pool_of: np.ndarray  # mining pool (account index) it belongs to, -1 for none
    pool_members: np.ndarray  # members sorted by pool
    pool_offsets: dict[int, tuple[int, int]]  # pool account → (start, count) in pool_members
    tokens: Tokens

    by_code: dict[int, np.ndarray]  # archetype code → its account indices (ascending)

    def indices(self, *archetypes: A.Archetype) -> np.ndarray:
        """Account indices of the given archetypes, ascending."""
        parts = [self.by_code[A.CODE[a.name]] for a in archetypes]
        return parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))

    def is_(self, *archetypes: A.Archetype) -> np.ndarray:
        """Boolean mask of accounts of the given archetypes."""
        return np.isin(self.code, [A.CODE[a.name] for a in archetypes])


def _counts(config: SimConfig) -> dict[A.Archetype, int]:
    """How many accounts of each archetype make up `config.n_accounts`."""
    n = config.n_accounts
    n_illicit = round(n * config.illicit_share)
    counts: dict[A.Archetype, int] = {}
    n_ico = max(1, round(n_illicit * ILLICIT_SHARES[A.ICO_OWNER] / 2)) if n_illicit else 0
    counts[A.ICO_OWNER] = counts[A.SCAM_TOKEN] = n_ico
    counts[A.PONZI] = round(n_illicit * ILLICIT_SHARES[A.PONZI]) if n_illicit else 0
    counts[A.IMPERSONATOR] = round(n_illicit * ILLICIT_SHARES[A.IMPERSONATOR]) if n_illicit else 0
    counts[A.PHISHING] = max(0, n_illicit - 2 * n_ico - counts[A.PONZI] - counts[A.IMPERSONATOR])
    for arch, (share, minimum) in SPECIAL_COUNTS.items():
        counts[arch] = max(minimum, round(n * share))
    n_eoa = n - sum(counts.values())
    for arch, share in NORMAL_EOA_SHARES.items():
        counts[arch] = round(n_eoa * share)
    counts[A.HOLDER] += n - sum(counts.values())
    return counts


def _lognormal(rng: np.random.Generator, median: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(len(median)))


def _addresses(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct random addresses plus the zero address as the last row."""
    raw = bytearray(rng.bytes(20 * n))
    rows = hex_rows(bytes(raw), 20)
    _, first = np.unique(rows, axis=0, return_index=True)
    if len(first) != n:  # 160-bit collisions do not happen; fail loudly if they ever do
        raise RuntimeError("address collision in the simulated population")
    zero = np.frombuffer(("0x" + "0" * 40).encode(), np.uint8)[None, :]
    return np.vstack([rows, zero])


def _spans(rng: np.random.Generator, code: np.ndarray, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Birth and death (fractional days) of every account; some spans begin before day 0."""
    n = len(code)
    life_med = A.archetype_column("life")[code]
    life_sig = A.archetype_column("life_sigma")[code]
    life = _lognormal(rng, life_med, life_sig)
    illicit = A.archetype_column("illicit")[code].astype(bool)
    birth = np.where(illicit, rng.uniform(-0.5 * days, days, n), rng.uniform(-0.6 * days, days, n))
    normal_eoa = ~illicit & ~A.archetype_column("contract")[code].astype(bool)
    # Normal accounts are observed: their span overlaps the window.
    late = normal_eoa & (birth + life < 0)
    birth[late] = -life[late] * rng.uniform(0, 1, int(late.sum()))
    relay = code == A.CODE[A.RELAY.name]
    birth[relay] = rng.uniform(0, days, int(relay.sum()))
    birth[relay] = np.floor(birth[relay]) + rng.uniform(0.0, 0.9, int(relay.sum()))
    life[relay] = 2.0 / 24
    always = np.isin(code, [A.CODE[a.name] for a in (A.EXCHANGE, A.POOL)])
    birth[always], life[always] = -ALWAYS, 2 * ALWAYS
    return birth, birth + life


def _pick(rng: np.random.Generator, pool: np.ndarray, size: int, weights=None) -> np.ndarray:
    if len(pool) == 0:
        return np.full(size, -1, np.int64)
    p = None if weights is None else weights / weights.sum()
    return pool[rng.choice(len(pool), size=size, p=p)]


def _contract_spans(rng: np.random.Generator, pop: dict, days: int) -> None:
    """Normal contracts mostly predate the window; a share is created inside it by deployers."""
    code = pop["code"]
    deployers = np.flatnonzero(code == A.CODE[A.DEPLOYER.name])
    for arch, share_new in ((A.TOKEN_CONTRACT, 0.3), (A.DAPP_CONTRACT, 0.2)):
        idx = np.flatnonzero(code == A.CODE[arch.name])
        new = rng.random(len(idx)) < share_new
        new[:3] = False  # the most used ones (first DEXes, one token per decimals) predate it
        pop["birth"][idx] = np.where(new, rng.uniform(0, days, len(idx)), -ALWAYS)
        pop["death"][idx] = ALWAYS
        pop["creator"][idx[new]] = _pick(rng, deployers, int(new.sum()))
    for arch in (A.SCAM_TOKEN,):
        idx = np.flatnonzero(code == A.CODE[arch.name])
        owners = np.flatnonzero(code == A.CODE[A.ICO_OWNER.name])
        pop["birth"][idx] = pop["birth"][owners] + rng.uniform(0.0, 0.05, len(idx))
        pop["death"][idx] = pop["birth"][idx] + (pop["death"][owners] - pop["birth"][owners])
        pop["creator"][idx] = owners
    ponzi = np.flatnonzero(code == A.CODE[A.PONZI.name])
    operators = np.flatnonzero(np.isin(code, [A.CODE[A.IMPERSONATOR.name]]))
    pop["creator"][ponzi] = _pick(rng, operators, len(ponzi))


def _funding(rng: np.random.Generator, pop: dict, days: int) -> None:
    """Schedule each observed account's funding: relays get a round amount then sweep it out."""
    code, birth, death = pop["code"], pop["birth"], pop["death"]
    n = len(code)
    is_code = lambda *archs: np.isin(code, [A.CODE[a.name] for a in archs])  # noqa: E731
    funded = is_code(A.HOLDER, A.TRADER, A.HUNTER, A.DEPLOYER, A.RELAY)
    funded |= is_code(A.ICO_OWNER)  # gas money for its token; other scams live off victims
    funded &= (death >= 0) & (birth < days)
    in_window = funded & (birth >= 0)
    fund_day = np.full(n, -1, np.int64)
    fund_tod = np.zeros(n)
    fund_day[in_window] = np.floor(birth[in_window]).astype(np.int64)
    fund_tod[in_window] = (birth[in_window] % 1.0) * 86400
    before = funded & ~in_window  # active already: a top-up sometime in the window
    last = np.minimum(death[before], days)
    fund_day[before] = np.floor(rng.uniform(0, 1, int(before.sum())) * last).astype(np.int64)
    fund_tod[before] = rng.uniform(0, 86400, int(before.sum()))
    traders = np.flatnonzero(is_code(A.TRADER))
    funder = np.where(rng.random(n) < 0.7, pop["home_exchange"], _pick(rng, traders, n))
    relay = is_code(A.RELAY)
    relay_funders = _pick(rng, np.flatnonzero(is_code(A.TRADER, A.HOLDER)), n)
    funder = np.where(relay & (rng.random(n) < 0.8), relay_funders, funder)
    fund_count = np.where(funded, 1, 0)
    fund_count[relay] = 1 + (rng.random(int(relay.sum())) < 0.3)
    amounts = rng.choice(RELAY_FUND_ETH, size=n, p=RELAY_FUND_P / RELAY_FUND_P.sum())
    fund_gwei = np.where(relay, amounts * GWEI_PER_ETH, pop["value_gwei"] * 1.5)
    illicit = is_code(A.ICO_OWNER)
    fund_gwei[illicit] = 0.05 * GWEI_PER_ETH * np.exp(0.7 * rng.standard_normal(illicit.sum()))
    sweep = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.12, 0.3, 0.45, 0.09, 0.04])
    pop.update(
        fund_day=fund_day, fund_tod=fund_tod, funder=funder.astype(np.int64),
        fund_count=fund_count.astype(np.int64), fund_gwei=fund_gwei,
        sweep_count=np.where(relay & funded, sweep, 0).astype(np.int64),
    )  # fmt: skip


def _token_names(rng: np.random.Generator, count: int) -> tuple[list[str], list[str]]:
    """Invented but plausible token names and symbols."""
    names, symbols, seen = [], [], set()
    while len(names) < count:
        parts = [_SYLLABLES[i] for i in rng.integers(0, len(_SYLLABLES), 2)]
        stem = (parts[0] + parts[1]).capitalize()
        symbol = (parts[0][:2] + parts[1][:2]).upper()
        if symbol in seen:
            symbol = symbol + str(len(names) % 10)
        seen.add(symbol)
        names.append(f"{stem} {_SUFFIXES[rng.integers(0, len(_SUFFIXES))]}")
        symbols.append(symbol)
    return names, symbols


def _tokens(rng: np.random.Generator, pop: dict) -> Tokens:
    """Normal tokens (decimals 18, 6 or 0; 40 % airdropped by a deployer) and scam tokens."""
    code = pop["code"]
    normal = np.flatnonzero(code == A.CODE[A.TOKEN_CONTRACT.name])
    scam = np.flatnonzero(code == A.CODE[A.SCAM_TOKEN.name])
    owners_scam = np.flatnonzero(code == A.CODE[A.ICO_OWNER.name])
    decimals = rng.choice([18, 6, 0], size=len(normal), p=[0.7, 0.15, 0.15])
    decimals[:3] = [18, 6, 0]
    scam_dec = rng.choice([18, 6, 0], size=len(scam), p=[0.8, 0.1, 0.1])
    decimals = np.concatenate([decimals, scam_dec]).astype(np.int32)
    account = np.concatenate([normal, scam])
    n_tok = len(account)
    unit = np.exp(rng.normal(np.log(20), 1.5, n_tok))
    unit = np.where(decimals == 6, np.exp(rng.normal(np.log(200), 1.0, n_tok)), unit)
    unit = np.where(decimals == 0, np.exp(rng.normal(np.log(3), 0.6, n_tok)), unit)
    unit[len(normal) :] = np.exp(rng.normal(np.log(3), 1.2, len(scam)))
    popularity = 1.0 / (1.0 + np.arange(n_tok)) ** 1.1
    popularity[len(normal) :] = 0.0  # nobody buys scam tokens on purpose
    owner = np.full(n_tok, -1, np.int64)
    deployers = np.flatnonzero(code == A.CODE[A.DEPLOYER.name])
    airdropped = np.flatnonzero(rng.random(len(normal)) < 0.4)
    if len(deployers):
        chosen = rng.choice(deployers, size=min(len(airdropped), len(deployers)), replace=False)
        owner[airdropped[: len(chosen)]] = chosen
    owner[len(normal) :] = owners_scam
    names, symbols = _token_names(rng, n_tok)
    return Tokens(
        account=account, decimals=decimals, name=names, symbol=symbols, popularity=popularity,
        unit=unit, owner=owner, scam=np.arange(n_tok) >= len(normal),
    )  # fmt: skip


def _pools(
    rng: np.random.Generator, code: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[int, tuple[int, int]]]:
    """Mining pools and their members (a share of holders and traders)."""
    n = len(code)
    pools = np.flatnonzero(code == A.CODE[A.POOL.name])
    miners = np.isin(code, [A.CODE[A.HOLDER.name], A.CODE[A.TRADER.name]])
    miners &= rng.random(n) < POOL_MEMBER_SHARE
    pool_of = np.full(n, -1, np.int64)
    pool_of[miners] = rng.choice(pools, size=int(miners.sum()))
    order = np.flatnonzero(miners)[np.argsort(pool_of[miners], kind="stable")]
    offsets: dict[int, tuple[int, int]] = {}
    start = 0
    for p in pools:
        count = int((pool_of == p).sum())
        offsets[int(p)] = (start, count)
        start += count
    return pool_of, order, offsets


def _rates(rng: np.random.Generator, pop: dict, n_users: int) -> np.ndarray:
    """Send rates: lognormal per archetype; exchanges and pools scale with their user base."""
    code = pop["code"]
    rate = _lognormal(
        rng, A.archetype_column("rate")[code].astype(float), A.archetype_column("rate_sigma")[code]
    )
    exchanges = np.flatnonzero(code == A.CODE[A.EXCHANGE.name])
    share = np.bincount(pop["home_exchange"], minlength=len(code))[exchanges].astype(float)
    share /= max(share.sum(), 1.0)
    rate[exchanges] = EXCHANGE_WITHDRAWALS_PER_USER_DAY * n_users * share
    for pool, (_, count) in pop["pool_offsets"].items():
        rate[pool] = POOL_PAYOUTS_PER_MEMBER_DAY * count + 1.0
    return rate


def _camouflage(rng: np.random.Generator, pop: dict) -> None:
    """Some scams hide in long, ordinary lives: a holder's rate and span, with their victims
    spread thinly over it."""
    code = pop["code"]
    camo = rng.random(len(code)) < A.archetype_column("camouflage")[code]
    stretch = CAMOUFLAGE_STRETCH
    pop["death"][camo] = pop["birth"][camo] + (pop["death"][camo] - pop["birth"][camo]) * stretch
    pop["scam_rate"][camo] /= stretch
    holder_rate = A.HOLDER.rate * np.exp(A.HOLDER.rate_sigma * rng.standard_normal(int(camo.sum())))
    pop["rate"][camo] = holder_rate
    pop["value_gwei"][camo] *= 3.0


def _nonce0(rng: np.random.Generator, pop: dict) -> np.ndarray:
    """Sends before day 0: Poisson in the time the account was already active."""
    age = np.clip(-pop["birth"], 0, 3 * 365)
    eoa = ~pop["contract"]
    lam = np.where(eoa, pop["rate"] * age * 0.5, 0.0)
    lam[pop["code"] == A.CODE[A.EXCHANGE.name]] *= 3
    return rng.poisson(lam).astype(np.int64)


@lru_cache(maxsize=8)
def build_population(config: SimConfig) -> Population:
    """Every account of the chain with its fixed attributes (cached: same config, same object)."""
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([config.seed, POPULATION_STREAM]))
    )
    counts = _counts(config)
    code = np.concatenate(
        [np.full(counts.get(a, 0), A.CODE[a.name], np.int16) for a in A.ARCHETYPES]
    )
    n = len(code)
    pop: dict = {"code": code, "creator": np.full(n, -1, np.int64)}
    pop["illicit"] = A.archetype_column("illicit")[code].astype(bool)
    pop["contract"] = A.archetype_column("contract")[code].astype(bool)
    pop["addr"] = _addresses(rng, n)
    pop["birth"], pop["death"] = _spans(rng, code, config.days)
    _contract_spans(rng, pop, config.days)
    exchanges = np.flatnonzero(code == A.CODE[A.EXCHANGE.name])
    size = 1.0 / (1.0 + np.arange(len(exchanges)))
    pop["home_exchange"] = _pick(rng, exchanges, n, size)
    pop["value_gwei"] = GWEI_PER_ETH * _lognormal(
        rng, A.archetype_column("value_eth")[code], A.archetype_column("value_sigma")[code]
    )
    pop["victim_gwei"] = GWEI_PER_ETH * A.archetype_column("victim_value_eth")[code]
    pop["victim_sigma"] = A.archetype_column("victim_sigma")[code].astype(float)
    pop["scam_rate"] = A.archetype_column("victims_per_day")[code] * np.exp(
        0.8 * rng.standard_normal(n)
    )
    pop["drains"] = rng.random(n) < A.archetype_column("drain_share")[code]
    pop["split_p"] = A.archetype_column("split_p")[code].astype(float)
    pop["via_factory"] = rng.random(n) < np.where(pop["illicit"], 0.8, 0.5)
    pop["airdrop_weight"] = A.archetype_column("airdrop_weight")[code] * np.exp(
        0.8 * rng.standard_normal(n)
    )
    pop["p2p_weight"] = A.archetype_column("p2p_weight")[code] * np.exp(rng.standard_normal(n))
    users = np.flatnonzero(
        np.isin(code, [A.CODE[a.name] for a in (A.HOLDER, A.TRADER, A.HUNTER, A.DEPLOYER)])
    )
    pop["contacts"] = _pick(rng, users, n * N_CONTACTS).reshape(n, N_CONTACTS)
    pop["pool_of"], pop["pool_members"], pop["pool_offsets"] = _pools(rng, code)
    pop["rate"] = _rates(rng, pop, len(users))
    _camouflage(rng, pop)
    pop["rate"] *= config.activity
    _funding(rng, pop, config.days)
    pop["nonce0"] = _nonce0(rng, pop)
    tokens = _tokens(rng, pop)
    owned = np.full(n, -1, np.int64)
    has_owner = tokens.owner >= 0
    owned[tokens.owner[has_owner]] = np.flatnonzero(has_owner)
    by_code = {c: np.flatnonzero(code == c) for c in range(len(A.ARCHETYPES))}
    return Population(n=n, owned_token=owned, tokens=tokens, by_code=by_code, **pop)
