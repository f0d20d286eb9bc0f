"""Amounts as people and programs write them: ether in (gwei, sub-gwei wei) pairs, token amounts
as (mantissa, exponent) pairs of raw units, both exact integers."""

from __future__ import annotations

import numpy as np

MAX_GWEI = 1e18  # a billion ether: far above any simulated amount, far below int64


def ether(rng: np.random.Generator, gwei: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gwei, sub-gwei wei) of ether amounts: half typed by a person (2-3 significant digits),
    half computed by software (every wei digit)."""
    gwei = np.clip(gwei, 1.0, MAX_GWEI)
    typed = rng.random(len(gwei)) < 0.5
    digits = np.where(rng.random(len(gwei)) < 0.5, 2, 3)
    scale = 10.0 ** (np.floor(np.log10(gwei)) - digits + 1)
    rounded = np.maximum(np.round(gwei / scale), 1) * scale
    out = np.where(typed, rounded, np.floor(gwei)).astype(np.int64)
    sub = np.where(typed, 0, rng.integers(0, 10**9, len(gwei)))
    return out, sub


def token_units(
    rng: np.random.Generator, decimals: np.ndarray, amount: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(mantissa, exponent) of raw token units for amounts in token units: 1-15 significant
    digits, never more fractional digits than the token's decimals allow."""
    decimals = decimals.astype(np.int64)
    amount = np.clip(amount, 1e-12, 1e30)
    sig = rng.choice([1, 2, 3, 6, 15], size=len(amount), p=[0.2, 0.25, 0.2, 0.15, 0.2])
    magnitude = np.floor(np.log10(amount)).astype(np.int64)
    frac_digits = np.minimum(sig - 1 - magnitude, decimals)
    mantissa = np.maximum(np.round(amount * 10.0 ** frac_digits.astype(float)), 1).astype(np.int64)
    return mantissa, decimals - frac_digits


def wei_parts_sum(
    gwei: np.ndarray, sub: np.ndarray, groups: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-group sums of (gwei, sub) amounts, normalised so that 0 <= sub < 10**9."""
    total_gwei = np.zeros(n_groups, np.int64)
    np.add.at(total_gwei, groups, gwei)
    total_sub = np.zeros(n_groups, np.int64)
    np.add.at(total_sub, groups, sub)
    return total_gwei + total_sub // 10**9, total_sub % 10**9


def minus_wei(gwei: np.ndarray, sub: np.ndarray, wei: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gwei, sub) minus an int64 wei amount, exactly, normalised."""
    g = gwei - wei // 10**9
    s = sub - wei % 10**9
    borrow = s < 0
    return g - borrow, np.where(borrow, s + 10**9, s)
