"""Ground truth and published labels of a simulated chain.

`accounts_table` is the truth (archetype, is_illicit) for every account. The darklist is what a
label source would publish, in the MyEtherWallet darklist JSON format, with real-world noise:
some illicit accounts are missing and a few normal ones are wrongly listed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from eth_assets.chain.sim import archetypes as A
from eth_assets.chain.sim.config import SimConfig
from eth_assets.chain.sim.population import Population, build_population
from eth_assets.common.addresses import to_checksum_address
from eth_assets.common.files import write_bytes_atomic

LABEL_STREAM = 0x1AB
CHECKSUM_SHARE = 0.6  # listed addresses written in EIP-55 mixed case; the rest lower-case
LISTING_LAG_DAYS = 7.0
COMMENTS = sorted({a.comment for a in A.ARCHETYPES if a.illicit})


def _addresses(pop: Population) -> list[str]:
    return [row.tobytes().decode("ascii") for row in pop.addr[: pop.n]]


def accounts_table(config: SimConfig) -> pa.Table:
    """Every account of the chain (EOAs and registered contracts): address, archetype and the
    true is_illicit flag, sorted by address."""
    pop = build_population(config)
    table = pa.table(
        {
            "address": pa.array(_addresses(pop), pa.string()),
            "archetype": pa.array([A.NAMES[c] for c in pop.code], pa.string()),
            "is_illicit": pa.array(pop.illicit, pa.bool_()),
        }
    )
    return table.sort_by("address")


def _listed(config: SimConfig, pop: Population, rng: np.random.Generator) -> np.ndarray:
    """Which accounts the darklist names: illicit ones minus the missed, plus false listings."""
    missed = rng.random(pop.n) < config.label_noise
    ordinary = pop.is_(A.HOLDER, A.TRADER, A.HUNTER, A.DEPLOYER, A.RELAY, A.MERCHANT)
    wrong = ordinary & (rng.random(pop.n) < config.false_listing_share)
    return np.flatnonzero((pop.illicit & ~missed) | wrong)


def darklist_entries(config: SimConfig) -> list[dict[str, str]]:
    """The simulated darklist: [{"address", "comment", "date"}] in MyEtherWallet's format.

    Illicit accounts are listed some days after their activity ends; `label_noise` of them are
    missing and `false_listing_share` of ordinary accounts are listed by mistake.
    """
    pop = build_population(config)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([config.seed, LABEL_STREAM])))
    listed = _listed(config, pop, rng)
    addresses = _addresses(pop)
    false_comment = rng.integers(0, len(COMMENTS), pop.n)
    lag = rng.exponential(LISTING_LAG_DAYS, pop.n)
    checksum = rng.random(pop.n) < CHECKSUM_SHARE
    last_seen = np.clip(pop.death, -3650, config.days - 1)
    entries = []
    for i in listed:  # a few hundred accounts
        day = int(min(np.floor(last_seen[i] + lag[i]), config.days - 1))
        arch = A.ARCHETYPES[pop.code[i]]
        entries.append(
            {
                "address": to_checksum_address(addresses[i]) if checksum[i] else addresses[i],
                "comment": arch.comment if arch.illicit else COMMENTS[false_comment[i]],
                "date": (config.start_date + timedelta(days=day)).isoformat(),
            }
        )
    return sorted(entries, key=lambda e: (e["date"], e["address"].lower()))


def write_darklist(config: SimConfig, path: Path) -> Path:
    """Write the darklist JSON to `path` (deterministic bytes); returns the path."""
    text = json.dumps(darklist_entries(config), indent=2) + "\n"
    return write_bytes_atomic(Path(path), text.encode("utf-8"))


def write_accounts(config: SimConfig, path: Path) -> Path:
    """Write the accounts CSV (address, archetype, is_illicit) to `path`; returns the path."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(accounts_table(config), sink)
    return write_bytes_atomic(Path(path), sink.getvalue().to_pybytes())


# Entity kinds of the simulated chain's known services, as Etherscan's label cloud names them.
ENTITY_KINDS: dict[str, str] = {A.EXCHANGE.name: "exchange", A.POOL.name: "mining"}


def entity_label_entries(config: SimConfig) -> dict[str, dict[str, object]]:
    """The simulated exchanges and mining pools in Etherscan's label-cloud format
    ({address: {"name", "labels"}}): entity labels for naming counterparties, never fraud labels."""
    entries: dict[str, dict[str, object]] = {}
    for archetype, kind in ENTITY_KINDS.items():
        accounts = [a for a in accounts_table(config).to_pylist() if a["archetype"] == archetype]
        for number, account in enumerate(accounts, start=1):
            name = f"Simulated {archetype.replace('_', ' ')} {number}"
            entries[account["address"]] = {"name": name, "labels": [kind]}
    return entries


def write_entity_labels(config: SimConfig, path: Path) -> Path:
    """Write the entity labels JSON to `path` (deterministic bytes); returns the path."""
    text = json.dumps(entity_label_entries(config), indent=1, sort_keys=True) + "\n"
    return write_bytes_atomic(Path(path), text.encode("utf-8"))
