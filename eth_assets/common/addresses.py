"""Ethereum address validation: the one place that decides what an address string is.

Contract: addresses are stored lower-case, '0x' followed by 40 hex digits. Input may be in any
case. A mixed-case input is an EIP-55 checksummed address, so its checksum must verify (a wrong
case there signals a typo); all-lower and all-upper hex carry no checksum and are accepted.
Leading and trailing whitespace is trimmed before checking (real lists contain trailing spaces),
so a padded but otherwise valid address is accepted. The prefix may be '0x' or '0X'.
"""

from __future__ import annotations

import re

from Crypto.Hash import keccak

_PREFIXES = ("0x", "0X")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
_ADDRESS_HEX_LENGTH = 40


class InvalidAddressError(ValueError):
    """An address string that breaks the contract; the message quotes the value and the reason."""


def _keccak_hex(text: str) -> str:
    """Keccak-256 (Ethereum's hash, not NIST SHA3-256) of ASCII text, as hex."""
    return keccak.new(digest_bits=256, data=text.encode("ascii")).hexdigest()


def _checksum_hex(hex_digits: str) -> str:
    """EIP-55 casing of 40 hex digits: a letter is upper-case where the hash nibble is >= 8."""
    lower = hex_digits.lower()
    digest = _keccak_hex(lower)
    return "".join(
        char.upper() if int(nibble, 16) >= 8 else char
        for char, nibble in zip(lower, digest, strict=False)
    )


def _is_mixed_case(hex_digits: str) -> bool:
    """True when the digits contain both lower- and upper-case letters (so carry a checksum)."""
    return hex_digits != hex_digits.lower() and hex_digits != hex_digits.upper()


def address_problem(value: object) -> str | None:
    """Why `value` is not a valid Ethereum address, or None when it is; used to report rejects."""
    if not isinstance(value, str):
        return "not a string"
    text = value.strip()
    if not text:
        return "empty"
    if not text.startswith(_PREFIXES):
        return "missing 0x prefix"
    hex_digits = text[2:]
    if not _HEX_DIGITS.fullmatch(hex_digits):
        return "not hexadecimal"
    if len(hex_digits) != _ADDRESS_HEX_LENGTH:
        return f"wrong length: {len(hex_digits)} hex digits"
    if _is_mixed_case(hex_digits) and _checksum_hex(hex_digits) != hex_digits:
        return "EIP-55 checksum mismatch"
    return None


def normalize_address(value: str) -> str:
    """The stored lower-case form of `value`; raises InvalidAddressError so bad input never passes.

    The message quotes repr(value) and the reason from address_problem.
    """
    problem = address_problem(value)
    if problem is not None:
        raise InvalidAddressError(f"invalid Ethereum address {value!r}: {problem}")
    return value.strip().lower()


def to_checksum_address(address: str) -> str:
    """The EIP-55 mixed-case form of a valid address, for display and for comparing with sources."""
    return "0x" + _checksum_hex(normalize_address(address)[2:])


def is_checksum_valid(address: str) -> bool:
    """True when `address` (trimmed) is exactly in EIP-55 form; False for any other input."""
    if address_problem(address) is not None:
        return False
    text = address.strip()
    return text[2:] == _checksum_hex(text[2:]) and text.startswith("0x")
