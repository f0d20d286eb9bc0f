"""A deterministic, realistic simulated Ethereum chain (plain functions, no Dagster).

`generate_day(config, day)` gives one UTC day of transactions and token transfers in the
canonical raw columns; any day can be generated alone, and the same seed gives identical bytes.
`accounts_table` is the ground truth; `darklist_entries` the noisy published labels.
"""

from eth_assets.chain.sim.activity import forget_nonce_memo
from eth_assets.chain.sim.config import SimConfig
from eth_assets.chain.sim.day import empty_day, generate_day, generate_days
from eth_assets.chain.sim.population import build_population
from eth_assets.chain.sim.sim_labels import (
    accounts_table,
    darklist_entries,
    entity_label_entries,
    write_accounts,
    write_darklist,
    write_entity_labels,
)


def clear_caches() -> None:
    """Forget the cached population and send counts: the next day is generated from scratch."""
    build_population.cache_clear()
    forget_nonce_memo()


__all__ = [
    "SimConfig",
    "accounts_table",
    "clear_caches",
    "darklist_entries",
    "empty_day",
    "entity_label_entries",
    "generate_day",
    "generate_days",
    "write_accounts",
    "write_darklist",
    "write_entity_labels",
]
