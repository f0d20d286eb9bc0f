"""eth_assets: Ethereum on-chain data to per-address analytics, as Dagster software-defined assets.

The code location is `eth_assets.definitions` (see workspace.yaml).
"""
