"""Account archetypes of the simulated chain: who sends what, how often, how much, how long.

Behaviour overlaps on purpose, as on the real chain: phishing victims are ordinary holders,
airdrop hunters receive spam tokens like scam addresses do, merchants collect many small payments
and forward them like phishing collectors, and some scams hide in long, holder-like lives. The
numbers are calibrated against the real sample (scripts/calibrate_simulation.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class Kind(IntEnum):
    """What one sent transaction does; decides its recipient, value, gas and token logs."""

    P2P = 0  # plain ether transfer to a contact or any account
    DEPOSIT = 1  # ether to the sender's exchange
    WITHDRAW = 2  # exchange pays a user
    TOKEN = 3  # ERC-20 transfer call: tx to the token contract, one Transfer log
    EXCHANGE_TOKEN = 4  # exchange pays a user in tokens
    SWAP = 5  # DEX trade: ether in, tokens out (or tokens in)
    DAPP = 6  # contract call, sometimes an airdrop claim
    CREATE = 7  # contract creation (to_address NULL)
    SCAM_PAY = 8  # a victim pays a scam (phishing, impersonator, Ponzi, fake ICO)
    LAUNDER = 9  # a scam forwards the day's takings
    PAYOUT = 10  # mining pool pays a member
    AIRDROP = 11  # token owner airdrops to many addresses in one transaction


N_KINDS = len(Kind)


@dataclass(frozen=True, eq=False)  # identity hash: archetypes key dicts
class Archetype:
    """Behaviour of one kind of account. Rates are sent transactions per active day (scam
    payments and forwarding come on top, driven by victims); values are medians of lognormal
    ether amounts; life is the median active span in days."""

    name: str
    illicit: bool = False
    contract: bool = False
    rate: float = 0.0
    rate_sigma: float = 1.0
    life: float = 1e6
    life_sigma: float = 0.0
    value_eth: float = 1.0
    value_sigma: float = 1.5
    kinds: dict[Kind, float] = field(default_factory=dict)
    victims_per_day: float = 0.0  # median victim payments per active day (0 = not a scam)
    victim_value_eth: float = 0.0  # median payment a victim sends it
    victim_sigma: float = 1.5
    drain_share: float = 0.0  # share of these scams that forward every payment the same day
    split_p: float = 0.0  # chance each further payment of a day adds one more forwarding
    camouflage: float = 0.0  # share living long, holder-like lives around their scam
    airdrop_weight: float = 0.0  # weight as an airdrop recipient
    p2p_weight: float = 1.0  # weight as a recipient of transfers from strangers
    comment: str = ""  # darklist category


HOLDER = Archetype(
    "occasional_holder", rate=0.05, rate_sigma=1.1, life=80, life_sigma=1.4, value_eth=2.0,
    value_sigma=1.8, airdrop_weight=0.05,
    kinds={Kind.P2P: 0.48, Kind.DEPOSIT: 0.42, Kind.TOKEN: 0.02, Kind.SWAP: 0.03,
           Kind.DAPP: 0.05},
)  # fmt: skip
RELAY = Archetype(
    "exchange_deposit_relay", rate=0.0, life=1e6, value_eth=40.0, value_sigma=0.8,
    p2p_weight=0.0,
)  # fmt: skip
TRADER = Archetype(
    "active_trader", rate=1.0, rate_sigma=1.0, life=150, life_sigma=1.0, value_eth=3.0,
    value_sigma=1.6, airdrop_weight=0.8, p2p_weight=2.0,
    kinds={Kind.DEPOSIT: 0.25, Kind.P2P: 0.20, Kind.SWAP: 0.25, Kind.TOKEN: 0.18,
           Kind.DAPP: 0.12},
)  # fmt: skip
HUNTER = Archetype(
    "airdrop_hunter", rate=0.25, rate_sigma=0.9, life=100, life_sigma=1.0, value_eth=0.05,
    value_sigma=1.2, airdrop_weight=6.0,
    kinds={Kind.DAPP: 0.40, Kind.TOKEN: 0.35, Kind.P2P: 0.15, Kind.SWAP: 0.10},
)  # fmt: skip
DEPLOYER = Archetype(
    "contract_deployer", rate=0.3, rate_sigma=1.0, life=150, life_sigma=1.0, value_eth=1.0,
    airdrop_weight=0.5,
    kinds={Kind.CREATE: 0.15, Kind.DAPP: 0.40, Kind.P2P: 0.20, Kind.AIRDROP: 0.10,
           Kind.TOKEN: 0.15},
)  # fmt: skip
EXCHANGE = Archetype(
    "exchange_hot_wallet", rate=60.0, rate_sigma=0.8, value_eth=2.0, p2p_weight=0.0,
    kinds={Kind.WITHDRAW: 0.96, Kind.EXCHANGE_TOKEN: 0.04},
)  # fmt: skip
POOL = Archetype(
    "mining_pool_payout", rate=15.0, rate_sigma=0.5, value_eth=0.2, value_sigma=0.8,
    p2p_weight=0.0, kinds={Kind.PAYOUT: 1.0},
)  # fmt: skip
MERCHANT = Archetype(
    "merchant_or_donations", rate=0.03, rate_sigma=1.0, life=6, life_sigma=1.6, value_eth=0.5,
    victims_per_day=1.2, victim_value_eth=0.15, victim_sigma=2.0, drain_share=0.8, split_p=0.2,
    airdrop_weight=0.6, p2p_weight=0.3, kinds={Kind.P2P: 0.5, Kind.DEPOSIT: 0.5},
)  # fmt: skip
TOKEN_CONTRACT = Archetype("token_contract", contract=True, p2p_weight=0.0)
DAPP_CONTRACT = Archetype("dapp_contract", contract=True, p2p_weight=0.0)

PHISHING = Archetype(
    "phishing_collector", illicit=True, life=3, life_sigma=1.5, value_eth=0.5,
    victims_per_day=1.5, victim_value_eth=0.15, victim_sigma=2.0, drain_share=0.9, split_p=0.15,
    camouflage=0.25, airdrop_weight=1.0, p2p_weight=0.0, comment="Phishing",
    kinds={Kind.P2P: 0.5, Kind.DEPOSIT: 0.4, Kind.SWAP: 0.1},
)  # fmt: skip
IMPERSONATOR = Archetype(
    "impersonator", illicit=True, rate=0.1, life=8, life_sigma=2.0, value_eth=1.0,
    kinds={Kind.P2P: 0.5, Kind.DEPOSIT: 0.5}, victims_per_day=0.8,
    victim_value_eth=0.4, victim_sigma=1.5, drain_share=0.9, split_p=0.3, camouflage=0.3,
    airdrop_weight=1.0,
    p2p_weight=0.0, comment="Impersonator",
)  # fmt: skip
ICO_OWNER = Archetype(
    "fake_ico", illicit=True, rate=0.5, rate_sigma=0.8, life=30, life_sigma=1.0, value_eth=2.0,
    victims_per_day=0.5, victim_value_eth=0.5, drain_share=0.6, split_p=0.2, airdrop_weight=0.3,
    p2p_weight=0.0, kinds={Kind.TOKEN: 0.6, Kind.AIRDROP: 0.4}, comment="Fake ICO",
)  # fmt: skip
SCAM_TOKEN = Archetype(
    "scam_token", illicit=True, contract=True, life=30, life_sigma=1.0, p2p_weight=0.0,
    comment="Fake ICO",
)  # fmt: skip
PONZI = Archetype(
    "ponzi_contract", illicit=True, contract=True, life=60, life_sigma=0.8, victims_per_day=0.3,
    victim_value_eth=0.3, p2p_weight=0.0, comment="Ponzi",
)  # fmt: skip

ARCHETYPES: tuple[Archetype, ...] = (
    HOLDER, RELAY, TRADER, HUNTER, DEPLOYER, MERCHANT, EXCHANGE, POOL, TOKEN_CONTRACT,
    DAPP_CONTRACT,
    PHISHING, IMPERSONATOR, ICO_OWNER, SCAM_TOKEN, PONZI,
)  # fmt: skip
CODE: dict[str, int] = {a.name: i for i, a in enumerate(ARCHETYPES)}
NAMES: list[str] = [a.name for a in ARCHETYPES]


def archetype_column(attribute: str) -> np.ndarray:
    """One attribute of every archetype as an array indexed by archetype code."""
    return np.array([getattr(a, attribute) for a in ARCHETYPES])


def kind_cdf() -> np.ndarray:
    """(archetypes, kinds) cumulative kind probabilities, for inverse-CDF sampling of kinds."""
    table = np.zeros((len(ARCHETYPES), N_KINDS))
    for code, arch in enumerate(ARCHETYPES):
        for kind, p in arch.kinds.items():
            table[code, kind] = p
        total = table[code].sum()
        if total > 0:
            table[code] /= total
    cdf = np.cumsum(table, axis=1)
    cdf[cdf[:, -1] > 0, -1] = 1.0  # exactly 1: a uniform draw never falls past the last kind
    return cdf
