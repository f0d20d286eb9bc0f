"""Label files in their own formats: kept rows, exact rejections, detection, and the real lists."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from eth_assets.common.addresses import to_checksum_address
from eth_assets.labels.label_files import (
    LABEL_COLUMNS,
    REJECTED_COLUMNS,
    ParsedLabels,
    default_source,
    read_label_file,
    read_label_files,
)

# EIP-55 test vectors: valid mixed-case addresses.
A = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
B = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
C = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
D = "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"
BAD_CHECKSUM = A[:-1] + "D"  # last letter's case flipped
HEX41 = A + "1"
NON_HEX = "0x" + "zz" * 20
BTC = "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"
TX_HASH = "0x" + "ab" * 32


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _rejections(parsed: ParsedLabels) -> list[tuple[str, str | None, str]]:
    """(entry, value, reason) of each rejection, in file order."""
    return parsed.rejected.select("entry", "value", "reason").rows()


def _assert_shape(parsed: ParsedLabels) -> None:
    assert parsed.labels.columns == LABEL_COLUMNS
    assert parsed.rejected.columns == REJECTED_COLUMNS
    assert set(parsed.labels.dtypes) <= {pl.Utf8}
    assert set(parsed.rejected.dtypes) <= {pl.Utf8}


# --- MyEtherWallet darklist JSON -----------------------------------------------------------------


def _mew_fixture(folder: Path) -> Path:
    entries = [
        {"address": A, "comment": "Fake A", "date": "2018-01-01"},
        {"address": A, "comment": "Fake A", "date": "2018-01-01"},  # exact duplicate
        {"address": "0x" + B[2:].upper() + "  ", "comment": "Padded", "date": "2018-01-02"},
        # The upstream MEW HEAD entry: 39 hex digits (41 characters with the prefix).
        {
            "address": "0x9CdfC5b0ACA4527a0916412E9dbD6AD85556A49",
            "comment": "Fake Dock crowdsale site",
        },
        {"address": BAD_CHECKSUM, "comment": "Bad checksum", "date": "2018-01-03"},
        {"address": NON_HEX, "comment": "Not hex", "date": ""},
        {"address": "", "comment": "Empty", "date": "2018-01-04"},
        {"comment": "No address field"},
        "not an object",
    ]
    return _write(folder, "mew_addresses-darklist.json", json.dumps(entries))


def test_mew_darklist_rows_and_rejections(tmp_path: Path) -> None:
    path = _mew_fixture(tmp_path)
    parsed = read_label_file(path)
    _assert_shape(parsed)
    assert parsed.labels.rows() == [
        (A.lower(), "mew_darklist", "darklist", None, "Fake A", "2018-01-01"),
        (B.lower(), "mew_darklist", "darklist", None, "Padded", "2018-01-02"),
    ]
    assert _rejections(parsed) == [
        (
            "item 4 (Fake Dock crowdsale site)",
            "0x9CdfC5b0ACA4527a0916412E9dbD6AD85556A49",
            "wrong length: 39 hex digits",
        ),
        ("item 5 (Bad checksum)", BAD_CHECKSUM, "EIP-55 checksum mismatch"),
        ("item 6 (Not hex)", NON_HEX, "not hexadecimal"),
        ("item 7 (Empty)", "", "empty"),
        ("item 8 (No address field)", None, "missing address"),
        ("item 9", "not an object", "entry is not an object"),
    ]
    assert set(parsed.rejected["file"]) == {str(path)}
    assert set(parsed.rejected["source"]) == {"mew_darklist"}


# --- EtherScamDB YAML ----------------------------------------------------------------------------

ETHERSCAMDB_YAML = f"""
-
    id: 1
    name: a-phish.com
    url: 'http://a-phish.com'
    coin: ETH
    category: Phishing
    subcategory: MyEtherWallet
    addresses:
        - '{A}'
        - '{BTC}'
        - '{HEX41}'
-
    id: 2
    name: btc-giveaway.com
    coin: BTC
    category: Scamming
    subcategory: Trust-Trading
    addresses:
        - '{BTC}'
        - '{C} '
-
    id: 3
    name: no-addresses.com
    coin: ETH
    category: Phishing
-
    id: 4
    name: unquoted.com
    coin: ETH
    category: Scamming
    addresses:
        - {D}
        - 0x52908400098527886E0F7030069857D2E4169EE7
-
    id: 5
    name: one-string.com
    coin: ETH
    category: Scamming
    addresses: '{B}'
-
    id: 6
    name: tx-hash.com
    category: Phishing
    addresses:
        - '{TX_HASH}'
        - '{BAD_CHECKSUM}'
        - ''
"""


def test_etherscamdb_rows_and_rejections(tmp_path: Path) -> None:
    path = _write(tmp_path, "etherscamdb_scams.yaml", ETHERSCAMDB_YAML)
    parsed = read_label_file(path)
    _assert_shape(parsed)
    # 0x addresses are kept whatever the entry's coin (id 2 is "BTC"); BTC strings are skipped;
    # unquoted 0x... stays text (not a YAML integer), so its case is checked too.
    assert parsed.labels.rows() == [
        (
            "0x52908400098527886e0f7030069857d2e4169ee7",
            "etherscamdb",
            "Scamming",
            None,
            "unquoted.com",
            None,
        ),
        (A.lower(), "etherscamdb", "Phishing", "MyEtherWallet", "a-phish.com", None),
        (D.lower(), "etherscamdb", "Scamming", None, "unquoted.com", None),
        (C.lower(), "etherscamdb", "Scamming", "Trust-Trading", "btc-giveaway.com", None),
    ]
    assert _rejections(parsed) == [
        ("id 1 (a-phish.com)", HEX41, "wrong length: 41 hex digits"),
        ("id 5 (one-string.com)", B, "addresses is not a list"),
        ("id 6 (tx-hash.com)", TX_HASH, "wrong length: 64 hex digits"),
        ("id 6 (tx-hash.com)", BAD_CHECKSUM, "EIP-55 checksum mismatch"),
    ]


# --- CryptoScamDB YAML ---------------------------------------------------------------------------

CRYPTOSCAMDB_YAML = f"""
- name: x-scam.com
  url: http://x-scam.com
  category: Scamming
  subcategory: Trust-Trading
  addresses:
    BTC:
    - "{BTC}"
    ETH:
    - "{A}"
    - "{BAD_CHECKSUM}"
    - "{HEX41}"
    - "{BTC}"
    - ""
    -
    VET:
    - "{B}"
- name: btc-only.com
  url: http://btc-only.com
  category: Phishing
  addresses:
    BTC:
    - "{BTC}"
- name: nothing.com
  url: http://nothing.com
  category: Phishing
- name: y-phish.com
  url: http://y-phish.com
  addresses:
    ETH:
    - "{C}"
"""


def test_cryptoscamdb_reads_only_the_eth_list(tmp_path: Path) -> None:
    path = _write(tmp_path, "cryptoscamdb_urls.yaml", CRYPTOSCAMDB_YAML)
    parsed = read_label_file(path)
    _assert_shape(parsed)
    assert parsed.labels.rows() == [
        (A.lower(), "cryptoscamdb", "Scamming", "Trust-Trading", "x-scam.com", None),
        (C.lower(), "cryptoscamdb", "unspecified", None, "y-phish.com", None),
    ]
    assert _rejections(parsed) == [
        ("item 1 (x-scam.com)", BAD_CHECKSUM, "EIP-55 checksum mismatch"),
        ("item 1 (x-scam.com)", HEX41, "wrong length: 41 hex digits"),
        ("item 1 (x-scam.com)", BTC, "missing 0x prefix"),
        ("item 1 (x-scam.com)", "", "empty"),
        ("item 1 (x-scam.com)", None, "missing address"),
    ]


# --- CSV -----------------------------------------------------------------------------------------


def test_etherscan_style_csv(tmp_path: Path) -> None:
    text = (
        "Address,Name Tag,Balance,Txn Count\n"
        f"{A.lower()},Fake_Phishing1,0 Ether,3\n"
        f"{B},,0.5 Ether,7\n"
        f"{BAD_CHECKSUM},Fake_Phishing2,0 Ether,0\n"
        "\n"
        f"{HEX41},Bancor Hacker,0 Ether,1\n"
        f"{NON_HEX},,0 Ether,1\n"
    )
    parsed = read_label_file(_write(tmp_path, "etherscan_phish_hack_labels.csv", text))
    _assert_shape(parsed)
    assert parsed.labels.rows() == [
        (A.lower(), "etherscan_phish_hack", "phish-hack", None, "Fake_Phishing1", None),
        (B.lower(), "etherscan_phish_hack", "phish-hack", None, None, None),
    ]
    assert _rejections(parsed) == [
        ("line 4 (Fake_Phishing2)", BAD_CHECKSUM, "EIP-55 checksum mismatch"),
        ("line 6 (Bancor Hacker)", HEX41, "wrong length: 41 hex digits"),
        ("line 7", NON_HEX, "not hexadecimal"),
    ]


def test_address_only_csv_uses_the_stem_and_unspecified_category(tmp_path: Path) -> None:
    path = _write(tmp_path, "my_list.csv", f"ADDRESS\n{A}\n{C}\n  {A.lower()}  \n{BTC}\n")
    parsed = read_label_file(path)
    assert parsed.labels.rows() == [
        (A.lower(), "my_list", "unspecified", None, None, None),
        (C.lower(), "my_list", "unspecified", None, None, None),
    ]
    assert parsed.rejected.rows() == [(str(path), "my_list", "line 5", BTC, "missing 0x prefix")]


def test_csv_with_all_columns_keeps_row_sources(tmp_path: Path) -> None:
    text = (
        "address,source,category,subcategory,name,date\n"
        f"{A.lower()},mew_darklist,darklist,,Fake A,2018-01-01\n"
        f"{A.lower()},etherscan_phish_hack,,,Fake_Phishing1,\n"
        f"{C.lower()},,Scamming,Trust-Trading,c.com,\n"
        f"{C.lower()},,Scamming,Trust-Trading,c.com,\n"
    )
    parsed = read_label_file(_write(tmp_path, "union.csv", text))
    assert parsed.labels.rows() == [
        (A.lower(), "etherscan_phish_hack", "phish-hack", None, "Fake_Phishing1", None),
        (A.lower(), "mew_darklist", "darklist", None, "Fake A", "2018-01-01"),
        (C.lower(), "union", "Scamming", "Trust-Trading", "c.com", None),
    ]
    assert parsed.rejected.is_empty()


def test_csv_without_address_column_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "wallets.csv", f"wallet,name\n{A},x\n")
    with pytest.raises(ValueError, match=r"wallets\.csv has no 'address' column"):
        read_label_file(path)


def test_empty_csv_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"empty\.csv is empty"):
        read_label_file(_write(tmp_path, "empty.csv", ""))


# --- Detection, overrides and errors -------------------------------------------------------------


def test_default_source_names() -> None:
    assert default_source("x/mew_addresses-darklist.json") == "mew_darklist"
    assert default_source("etherscamdb_scams.yaml") == "etherscamdb"
    assert default_source("cryptoscamdb_urls.yaml") == "cryptoscamdb"
    assert default_source("etherscan_phish_hack_labels.csv") == "etherscan_phish_hack"
    assert default_source("/a/b/other-list.yml") == "other-list"


def test_source_can_be_overridden(tmp_path: Path) -> None:
    parsed = read_label_file(_mew_fixture(tmp_path), source="mew_2018")
    assert set(parsed.labels["source"]) == {"mew_2018"}
    assert set(parsed.rejected["source"]) == {"mew_2018"}


def test_yaml_flavour_is_detected_from_the_addresses_shape(tmp_path: Path) -> None:
    a = read_label_file(_write(tmp_path, "list_a.yml", ETHERSCAMDB_YAML))
    b = read_label_file(_write(tmp_path, "list_b.yaml", CRYPTOSCAMDB_YAML))
    assert a.labels["name"].to_list().count("btc-giveaway.com") == 1  # EtherScamDB rules
    assert "y-phish.com" in b.labels["name"].to_list()  # CryptoScamDB rules


def test_explicit_format_overrides_detection(tmp_path: Path) -> None:
    path = _write(tmp_path, "addresses.txt", f"address\n{A}\n")
    with pytest.raises(ValueError, match=r"unknown label file format for .*addresses\.txt"):
        read_label_file(path)
    parsed = read_label_file(path, fmt="csv")
    assert parsed.labels["address"].to_list() == [A.lower()]
    # A list-shaped scam DB read as CryptoScamDB: each entry's list is reported, not guessed at.
    forced = read_label_file(_write(tmp_path, "s.yaml", ETHERSCAMDB_YAML), fmt="cryptoscamdb")
    assert forced.labels.is_empty()
    assert set(forced.rejected["reason"]) == {"addresses is not a mapping of coin to list"}


def test_unknown_format_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown label format 'xml'"):
        read_label_file(_write(tmp_path, "a.csv", f"address\n{A}\n"), fmt="xml")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("broken.json", '[{"address": ', r"broken\.json is not valid JSON"),
        ("object.json", '{"0xabc": {"name": "x"}}', r"object\.json is not a MEW darklist"),
        ("broken.yaml", "- name: [unclosed\n", r"broken\.yaml is not valid YAML"),
        ("scalar.yaml", "just text\n", r"scalar\.yaml is not a scam database"),
        ("empty.yaml", "", r"empty\.yaml is not a scam database: top level is empty file"),
        (
            "mixed.yaml",
            f"- addresses: ['{A}']\n- addresses: {{ETH: ['{B}']}}\n",
            r"mixed\.yaml: cannot tell EtherScamDB from CryptoScamDB",
        ),
        ("latin1.csv", None, r"latin1\.csv is not UTF-8"),
    ],
)
def test_malformed_files_raise_value_error_naming_the_file(
    tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    path = tmp_path / name
    if text is None:
        path.write_bytes(b"address,name\n" + A.encode() + b",caf\xe9\n")
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_label_file(path)


def test_missing_file_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read label file .*nowhere\.json"):
        read_label_file(tmp_path / "nowhere.json")


def test_read_label_files_concatenates_dedups_and_sorts(tmp_path: Path) -> None:
    mew = _mew_fixture(tmp_path)
    csv_path = _write(tmp_path, "mine.csv", f"address,name\n{D}\n{A}\n{BTC}\n")
    both = read_label_files([mew, csv_path, mew])
    _assert_shape(both)
    assert both.labels.select("address", "source").rows() == [
        (A.lower(), "mew_darklist"),
        (A.lower(), "mine"),
        (D.lower(), "mine"),
        (B.lower(), "mew_darklist"),
    ]
    assert both.rejected["file"].to_list() == [str(mew)] * 6 + [str(csv_path)] + [str(mew)] * 6


def test_read_label_files_of_nothing_is_empty() -> None:
    parsed = read_label_files([])
    _assert_shape(parsed)
    assert parsed.labels.is_empty()
    assert parsed.rejected.is_empty()


# --- The real lists in <shared>/labels -----------------------------------------------------------

REAL_FILES = {
    "mew_darklist": "mew_addresses-darklist.json",
    "etherscamdb": "etherscamdb_scams.yaml",
    "cryptoscamdb": "cryptoscamdb_urls.yaml",
    "etherscan_phish_hack": "etherscan_phish_hack_labels.csv",
}
UNION_FILE = "illicit_addresses_union.csv"
# Mixed-case addresses whose EIP-55 checksum fails (the SOURCE.md counts only checked the hex
# pattern, so they counted these). In each, exactly one letter has the wrong case and no
# one-digit change or swap would fix the checksum instead: a case slip in the source, the
# lower-case address is very probably right, but the contract rejects a bad checksum.
CHECKSUM_FAILURES = {
    "cryptoscamdb": ["0x9fAfDd6748BA31C41a23C8303Be53320Ed41901C"],  # bitfinexgiveaway.com
    "etherscan_phish_hack": [
        "0xA0DF9CA52e8aB5DDE22C55D9B3C2CDF814B9B773",  # line 4200, Fake_Phishing529
        "0xf299f6B031Cc4dd1BfcB86A5e5590f99336a29c6",  # line 5031, Fake_Phishing64
    ],
}
# Unique valid addresses per file. SOURCE.md says mew 629, etherscamdb 2,040, cryptoscamdb 2,970
# and etherscan 5,900. cryptoscamdb: 2,970 counts 0x addresses under every coin key; its ETH lists
# hold 2,967 (as in the union file), the other 3 are under VET (2) and BSC (1), which we do not
# read; minus 1 checksum failure = 2,966. etherscan: 5,900 minus 2 checksum failures = 5,898.
# etherscamdb: 2,040 holds only because 0x addresses are read whatever the entry's `coin`
# (22 of them appear only under coin BTC/TRX/ETC/...; coin ETH or missing alone would give 2,018).
UNIQUE_VALID = {
    "mew_darklist": 629,
    "etherscamdb": 2040,
    "cryptoscamdb": 2966,
    "etherscan_phish_hack": 5898,
}


@pytest.fixture(scope="module")
def label_dir(shared_data: Path) -> Path:
    folder = shared_data / "labels"
    if not folder.is_dir():
        pytest.skip(f"real label folder {folder} not found")
    return folder


@pytest.fixture(scope="module")
def real(label_dir: Path) -> dict[str, ParsedLabels]:
    """Each real list parsed once (the two YAML files take a second or two each)."""
    return {source: read_label_file(label_dir / name) for source, name in REAL_FILES.items()}


@pytest.mark.parametrize("source", list(REAL_FILES))
def test_real_file_parses_with_expected_unique_addresses(
    real: dict[str, ParsedLabels], source: str
) -> None:
    parsed = real[source]
    _assert_shape(parsed)
    assert set(parsed.labels["source"]) == {source}
    assert parsed.labels["address"].n_unique() == UNIQUE_VALID[source]
    assert parsed.labels["address"].str.contains(r"^0x[0-9a-f]{40}$").all()


def test_real_mew_darklist_has_no_malformed_entries(
    real: dict[str, ParsedLabels], label_dir: Path
) -> None:
    # The malformed 39-hex "Fake Dock crowdsale site" entry and the two trailing-space addresses
    # that SOURCE.md reports are in MEW's upstream HEAD, not in this (Farrugia et al.) snapshot:
    # here all 692 entries are clean, and they de-duplicate to 662 rows of 629 addresses.
    # The hand-written MEW fixture above covers those upstream cases.
    entries = json.loads((label_dir / REAL_FILES["mew_darklist"]).read_text())
    assert len(entries) == 692
    assert all(e["address"] == e["address"].strip() for e in entries)
    assert real["mew_darklist"].rejected.is_empty()
    assert real["mew_darklist"].labels.height == 662


def test_real_etherscamdb_rejects_only_three_transaction_hashes(
    real: dict[str, ParsedLabels],
) -> None:
    # Entry 81 lists three 64-hex transaction hashes as addresses; BTC/TRX/XRP/... strings in
    # its lists are other chains, skipped rather than rejected.
    rejected = real["etherscamdb"].rejected
    assert rejected.height == 3
    assert set(rejected["entry"]) == {"id 81 (myetherwallet.us)"}
    assert set(rejected["reason"]) == {"wrong length: 64 hex digits"}


def test_real_cryptoscamdb_rejections(real: dict[str, ParsedLabels]) -> None:
    rejected = real["cryptoscamdb"].rejected
    assert Counter(rejected["reason"]) == {
        "wrong length: 41 hex digits": 21,  # a stray trailing digit, 2021-era DeFi phish entries
        "wrong length: 38 hex digits": 1,
        "missing 0x prefix": 1,  # a BTC address filed under ETH
        "EIP-55 checksum mismatch": 1,
    }
    mismatches = rejected.filter(pl.col("reason") == "EIP-55 checksum mismatch")
    assert mismatches["value"].to_list() == CHECKSUM_FAILURES["cryptoscamdb"]


def test_real_etherscan_rejects_only_two_checksum_failures(real: dict[str, ParsedLabels]) -> None:
    assert real["etherscan_phish_hack"].rejected.select("entry", "value", "reason").rows() == [
        (
            "line 4200 (Fake_Phishing529)",
            CHECKSUM_FAILURES["etherscan_phish_hack"][0],
            "EIP-55 checksum mismatch",
        ),
        (
            "line 5031 (Fake_Phishing64)",
            CHECKSUM_FAILURES["etherscan_phish_hack"][1],
            "EIP-55 checksum mismatch",
        ),
    ]


@pytest.mark.parametrize("value", [v for values in CHECKSUM_FAILURES.values() for v in values])
def test_real_checksum_failures_are_single_letter_case_slips(value: str) -> None:
    expected = to_checksum_address(value.lower())
    differing = [
        i for i, (got, want) in enumerate(zip(value, expected, strict=True)) if got != want
    ]
    assert len(differing) == 1
    assert value[differing[0]].swapcase() == expected[differing[0]]


def test_real_union_is_the_four_lists_plus_three_bad_checksums(
    real: dict[str, ParsedLabels], label_dir: Path
) -> None:
    # illicit_addresses_union.csv was built with the hex pattern only, so it holds the three
    # checksum failures (lower-cased): 6,743 unique addresses against our 6,740. Otherwise the
    # four files read here give exactly its 13,323 - 3 rows.
    union = read_label_file(label_dir / UNION_FILE)
    assert union.rejected.is_empty()
    assert union.labels.height == 13_323
    assert union.labels["address"].n_unique() == 6_743
    combined = read_label_files([label_dir / name for name in REAL_FILES.values()])
    assert combined.labels["address"].n_unique() == 6_740
    bad = [v.lower() for values in CHECKSUM_FAILURES.values() for v in values]
    assert combined.labels.equals(union.labels.filter(~pl.col("address").is_in(bad)))
    assert combined.rejected.height == sum(p.rejected.height for p in real.values()) == 29


def test_real_entity_label_json_is_not_a_darklist(label_dir: Path) -> None:
    # The Etherscan label-cloud scrape is an address -> {name, labels} object, not an illicit list.
    with pytest.raises(ValueError, match="is not a MEW darklist"):
        read_label_file(label_dir / "etherscan_labels_combinedAllLabels.json")


def test_an_unbalanced_quote_rejects_the_csv_naming_the_line(tmp_path: Path) -> None:
    """A stray quote would swallow every row after it into one cell: the file is refused."""
    rows = [f"0x{i:040x},phish" for i in range(1, 6)]
    rows[1] = '"0x' + "2" * 40 + ",phish"
    path = tmp_path / "list.csv"
    path.write_text("address,category\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"line 3 opens a quoted cell that runs to line 6"):
        read_label_file(path)
