"""Vectorised encoders from NumPy arrays to the Arrow columns of the raw schema.

Hex strings, exact wei decimals and uint256 token amounts are built straight from buffers, so a
day of a million rows never passes through Python objects.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

WEI_PER_GWEI = 10**9
MAX_ZEROS = 80  # longest run of trailing zeros a token amount may need (uint256 has 78 digits)
_ZERO_RUNS = pa.array(["0" * k for k in range(MAX_ZEROS + 1)], pa.string())
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def hex_rows(raw: bytes, width: int) -> np.ndarray:
    """ASCII matrix (rows, 2 + 2*width) of `0x`-prefixed lower-case hex of `width`-byte rows."""
    rows = len(raw) // width
    out = np.empty((rows, 2 + 2 * width), np.uint8)
    out[:, 0] = ord("0")
    out[:, 1] = ord("x")
    out[:, 2:] = np.frombuffer(raw.hex().encode("ascii"), np.uint8).reshape(rows, 2 * width)
    return out


def random_hex_rows(rng: np.random.Generator, rows: int, width: int) -> np.ndarray:
    """`rows` random `0x` hex strings of `width` bytes as an ASCII matrix (hashes, addresses)."""
    return hex_rows(rng.bytes(rows * width), width)


def string_array(ascii_rows: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """An Arrow string array from a fixed-width ASCII matrix; null where `valid` is False."""
    rows, width = ascii_rows.shape
    data = np.ascontiguousarray(ascii_rows)
    offsets = np.arange(rows + 1, dtype=np.int32) * width
    validity = None
    null_count = 0
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        null_count = int(rows - valid.sum())
    return pa.Array.from_buffers(
        pa.string(),
        rows,
        [validity, pa.py_buffer(offsets), pa.py_buffer(data)],
        null_count=null_count,
    )


def wei_decimal_array(gwei: np.ndarray, sub_gwei: np.ndarray) -> pa.Array:
    """Exact DECIMAL(38,0) wei = gwei * 10**9 + sub_gwei, from int64 arrays (0 <= sub < 10**9).

    The 128-bit value is assembled from 32-bit limbs in uint64 arithmetic: no overflow for any
    non-negative int64 gwei amount.
    """
    g = gwei.astype(np.uint64)
    p0 = (g & _MASK32) * np.uint64(WEI_PER_GWEI)
    p1 = (g >> _SHIFT32) * np.uint64(WEI_PER_GWEI)
    low = (p1 & _MASK32) << _SHIFT32
    lo = low + p0 + sub_gwei.astype(np.uint64)
    hi = (p1 >> _SHIFT32) + (lo < low).astype(np.uint64)
    limbs = np.empty((len(g), 2), np.uint64)
    limbs[:, 0] = lo
    limbs[:, 1] = hi
    return pa.Array.from_buffers(pa.decimal128(38, 0), len(g), [None, pa.py_buffer(limbs)])


def token_amount_strings(
    mantissa: np.ndarray, exponent: np.ndarray, huge: np.ndarray, huge_values: list[str]
) -> pa.Array:
    """Decimal strings of raw token units: mantissa * 10**exponent, or huge_values[huge] where
    huge >= 0 (uint256-sized amounts that no fixed-width integer holds)."""
    digits = pc.cast(pa.array(mantissa, pa.int64()), pa.string())
    zeros = _ZERO_RUNS.take(pa.array(np.where(mantissa > 0, exponent, 0), pa.int64()))
    text = pc.binary_join_element_wise(digits, zeros, "")
    if (huge >= 0).any():
        big = pa.array(huge_values, pa.string()).take(pa.array(np.maximum(huge, 0)))
        text = pc.if_else(pa.array(huge >= 0), big, text)
    return text


def splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a fast, well-mixed uint64 hash of each uint64 value."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def keyed_hex_rows(seed: int, keys: np.ndarray, salt: int, width_words: int = 4) -> np.ndarray:
    """Deterministic pseudo-random hex rows (8 * width_words bytes) from integer keys: the same
    key always gives the same hash, whichever day asks (block hashes)."""
    base = splitmix64(np.array([seed * 1_000_003 + salt], np.uint64))[0]
    mixed = splitmix64(keys.astype(np.uint64) ^ base)
    words = np.empty((len(keys), width_words), np.uint64)
    with np.errstate(over="ignore"):
        for i in range(width_words):
            words[:, i] = splitmix64(mixed + np.uint64(i) * np.uint64(0xD1B54A32D192ED03))
    return hex_rows(words.astype("<u8").tobytes(), 8 * width_words)
