"""The Ethereum address contract: lower-case storage, any-case input, EIP-55 verification."""

from __future__ import annotations

import pytest

from eth_assets.common.addresses import (
    InvalidAddressError,
    address_problem,
    is_checksum_valid,
    normalize_address,
    to_checksum_address,
)

# The test vectors of EIP-55 (https://eips.ethereum.org/EIPS/eip-55).
EIP55_EXAMPLES = [
    "0x52908400098527886E0F7030069857D2E4169EE7",  # all caps
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",  # all lower
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",  # mixed case
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
MIXED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def _flip_case(text: str, index: int) -> str:
    return text[:index] + text[index].swapcase() + text[index + 1 :]


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_eip55_examples_are_valid_and_round_trip(address: str) -> None:
    assert address_problem(address) is None
    assert normalize_address(address) == address.lower()
    assert to_checksum_address(address) == address
    assert to_checksum_address(address.lower()) == address
    assert is_checksum_valid(address)


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_all_lower_and_all_upper_hex_are_accepted(address: str) -> None:
    lower = address.lower()
    upper = "0x" + address[2:].upper()
    assert normalize_address(lower) == lower
    assert normalize_address(upper) == lower


def test_upper_case_prefix_is_accepted() -> None:
    assert normalize_address("0X" + MIXED[2:]) == MIXED.lower()


def test_surrounding_whitespace_is_trimmed_and_accepted() -> None:
    assert address_problem(f"  {MIXED} \n") is None
    assert normalize_address(MIXED + "  ") == MIXED.lower()
    assert is_checksum_valid(MIXED + " ")


def test_one_case_flip_breaks_the_checksum() -> None:
    first_letter = next(i for i, c in enumerate(MIXED) if i >= 2 and c.isalpha())
    broken = _flip_case(MIXED, first_letter)
    assert address_problem(broken) == "EIP-55 checksum mismatch"
    assert not is_checksum_valid(broken)
    with pytest.raises(InvalidAddressError, match="EIP-55 checksum mismatch"):
        normalize_address(broken)


def test_every_single_case_flip_of_every_example_is_rejected() -> None:
    for address in EIP55_EXAMPLES[4:]:
        for index in range(2, len(address)):
            if address[index].isalpha():
                assert address_problem(_flip_case(address, index)) == "EIP-55 checksum mismatch"


def test_lower_case_is_not_the_checksum_form() -> None:
    assert not is_checksum_valid(MIXED.lower())
    assert not is_checksum_valid("0X" + MIXED[2:])


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (MIXED + "1", "wrong length: 41 hex digits"),
        (MIXED[:-1], "wrong length: 39 hex digits"),
        ("0x" + "ab" * 32, "wrong length: 64 hex digits"),
        ("0x", "wrong length: 0 hex digits"),
        ("0x" + "g" + MIXED[3:], "not hexadecimal"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1B Aed", "not hexadecimal"),
        (MIXED[2:], "missing 0x prefix"),
        ("1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "missing 0x prefix"),
        ("", "empty"),
        ("   ", "empty"),
        (None, "not a string"),
        (0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED, "not a string"),
        (b"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "not a string"),
    ],
)
def test_invalid_values_and_their_reasons(value: object, reason: str) -> None:
    assert address_problem(value) == reason
    assert not is_checksum_valid(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidAddressError) as caught:
        normalize_address(value)  # type: ignore[arg-type]
    assert repr(value) in str(caught.value)
    assert reason in str(caught.value)


def test_error_is_a_value_error_quoting_the_bad_value() -> None:
    bad = "0xNOT-AN-ADDRESS"
    with pytest.raises(ValueError, match=r"'0xNOT-AN-ADDRESS': not hexadecimal"):
        normalize_address(bad)


def test_to_checksum_address_rejects_invalid_input() -> None:
    with pytest.raises(InvalidAddressError, match="wrong length"):
        to_checksum_address(MIXED[:-2])
