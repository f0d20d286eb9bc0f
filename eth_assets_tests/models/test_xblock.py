"""The xblock_2019 reader (eth_assets/models/xblock.py): the mapping on hand-built folders, the
supported features checked against the real sample reduced to the set's columns, and the real
set itself; the real-data tests are skipped without ../shared/data."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.chain.source_columns import SourceDataError
from eth_assets.common.duckdb_utils import connect, sql_literal
from eth_assets.features.farrugia import register_sample_views
from eth_assets.features.feature_tables import BEHAVIOUR_COLUMNS, FEATURE_COLUMNS
from eth_assets.models.xblock import (
    ACCOUNT_INFO_COLUMNS,
    LACKING_COLUMNS,
    SUPPORTED,
    UNSUPPORTED,
    empty_table,
    pipeline_features,
    read_xblock,
    reduced_to_xblock,
    supported_frame,
    xblock_features,
)

NORMAL = "0x" + "a1" * 20
PHISH = "0x" + "b2" * 20
OUTSIDE = "0x" + "c3" * 20
HASHES = ["0x" + f"{i:064x}" for i in range(1, 5)]
BIG_WEI = "123456789012345678901234567"  # 27 digits: beyond a float's exactness


def ts(day: int, hour: int = 12) -> datetime:
    return datetime(2019, 1, day, hour, tzinfo=UTC)


def tx_row(account: str, number: int, block: int, sender: str, to: str | None, **kw: object):
    """One source row of transactions.parquet (the set's columns and types)."""
    group = "normal" if account == NORMAL else "phishing"
    row = {
        "account": account,
        "group": group,
        "hash": HASHES[number],
        "block_number": block,
        "block_timestamp": ts(number + 1),
        "from_address": sender,
        "to_address": to,
        "value_eth_text": "1.5",
        "value_wei": "1500000000000000000",
        "contract_address": None,
        "input": "0x",
        "is_error": 0,
    }
    return row | kw


# A pays PHISH before Byzantium in a call Etherscan marks failed (listed under both accounts);
# PHISH sends a failed transaction after Byzantium; NORMAL sends BIG_WEI and creates a contract.
ROWS = [
    tx_row(NORMAL, 0, 4_000_000, NORMAL, PHISH, is_error=1),
    tx_row(PHISH, 0, 4_000_000, NORMAL, PHISH, is_error=1),
    tx_row(PHISH, 1, 5_000_000, PHISH, OUTSIDE, is_error=1),
    tx_row(NORMAL, 2, 5_000_001, NORMAL, OUTSIDE, value_wei=BIG_WEI),
    tx_row(NORMAL, 3, 6_000_000, NORMAL, None, value_wei="0"),
]
ACCOUNTS_CSV = (
    "address,group,label,n_tx,first_ts,last_ts,in_raw_txns,in_phish_2022\n"
    f"{NORMAL.upper().replace('0X', '0x')},normal,0,3,2019-01-01T12:00:00+00:00,"
    "2019-01-04T12:00:00+00:00,False,False\n"
    f"{PHISH},phishing,1,2,2019-01-01T12:00:00+00:00,2019-01-02T12:00:00+00:00,True,False\n"
)


def write_folder(folder: Path, rows: list[dict], accounts_csv: str = ACCOUNTS_CSV) -> Path:
    """An xblock-shaped folder: transactions.parquet of `rows` and accounts.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0])
    schema = pa.schema(
        [
            (name, {"block_number": pa.int64(), "is_error": pa.int64()}.get(name, pa.string()))
            if name != "block_timestamp"
            else (name, pa.timestamp("us", tz="UTC"))
            for name in columns
        ]
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, folder / "transactions.parquet")
    (folder / "accounts.csv").write_text(accounts_csv)
    return folder


def described(table: pa.Table) -> list[tuple[str, str]]:
    """(column, DuckDB type) of an Arrow table, in the schema's spelling."""
    con = duckdb.connect()
    con.register("t", table)
    return [
        (row[0], row[1].replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"))
        for row in con.execute("DESCRIBE t").fetchall()
    ]


def test_mapping_gives_the_schema_types_one_row_per_hash(tmp_path: Path) -> None:
    xblock = read_xblock(write_folder(tmp_path, ROWS))
    assert described(xblock.transactions) == list(TRANSACTIONS.columns)
    assert described(xblock.token_transfers) == list(TOKEN_TRANSFERS.columns)
    assert xblock.token_transfers.num_rows == 0
    rows = {row["hash"]: row for row in xblock.transactions.to_pylist()}
    assert sorted(rows) == HASHES  # the NORMAL → PHISH transaction once, not twice
    assert str(rows[HASHES[2]]["value"]) == BIG_WEI  # exact DECIMAL(38, 0)
    assert rows[HASHES[3]]["to_address"] is None
    for row in rows.values():
        assert all(row[column] is None for column in LACKING_COLUMNS)
    assert xblock.as_of == datetime(2019, 1, 5, tzinfo=UTC)  # midnight after the last day


def test_receipt_status_follows_byzantium(tmp_path: Path) -> None:
    """Before block 4,370,000 the status is NULL (as in BigQuery) whatever is_error says."""
    xblock = read_xblock(write_folder(tmp_path, ROWS))
    status = {row["hash"]: row["receipt_status"] for row in xblock.transactions.to_pylist()}
    assert status == {HASHES[0]: None, HASHES[1]: 0, HASHES[2]: 1, HASHES[3]: 1}


def test_accounts_are_typed_and_lower_case(tmp_path: Path) -> None:
    accounts = read_xblock(write_folder(tmp_path, ROWS)).accounts.to_pylist()
    assert [(a["address"], a["group"], a["label"]) for a in accounts] == [
        (NORMAL, "normal", 0),
        (PHISH, "phishing", 1),
    ]
    assert accounts[1]["in_raw_txns"] is True and accounts[1]["in_phish_2022"] is False
    assert accounts[0]["first_ts"] == ts(1)


def test_features_by_hand(tmp_path: Path) -> None:
    """Counts and values a person can check, the pre-Byzantium payment counting as success."""
    features = xblock_features(read_xblock(write_folder(tmp_path, ROWS)))
    assert features.columns == [*ACCOUNT_INFO_COLUMNS, *SUPPORTED]
    assert not set(UNSUPPORTED) & set(features.columns)
    normal, phish = features.sort("address").to_dicts()
    assert (normal["address"], normal["label"], phish["label"]) == (NORMAL, 0, 1)
    assert (normal["sent_tnx"], normal["number_of_created_contracts"]) == (3, 1)
    assert normal["total_ether_sent"] == pytest.approx(1.5 + int(BIG_WEI) / 1e18)
    assert phish["total_ether_received"] == 1.5  # is_error = 1, but before Byzantium
    assert (phish["failed_sent_share"], normal["failed_sent_share"]) == (1.0, 0.0)
    assert phish["total_ether_sent"] == 0.0  # its only payment failed
    assert normal["first_activity"] == ts(1)
    assert phish["first_activity"] == ts(1)


@pytest.mark.parametrize(
    ("file", "column"),
    [("transactions.parquet", "value_wei"), ("accounts.csv", "label")],
)
def test_a_missing_column_is_named(tmp_path: Path, file: str, column: str) -> None:
    if file == "transactions.parquet":
        write_folder(tmp_path, [{k: v for k, v in r.items() if k != column} for r in ROWS])
    else:
        lines = ACCOUNTS_CSV.replace(",label", "").replace(",0,3", ",3").replace(",1,2", ",2")
        write_folder(tmp_path, ROWS, lines)
    with pytest.raises(SourceDataError, match=re.escape(f"{file}: missing column '{column}'")):
        read_xblock(tmp_path)


def test_a_non_integer_value_is_quoted(tmp_path: Path) -> None:
    rows = [*ROWS[:3], tx_row(NORMAL, 2, 5_000_001, NORMAL, OUTSIDE, value_wei="1.5e18")]
    write_folder(tmp_path, rows)
    with pytest.raises(SourceDataError) as error:
        read_xblock(tmp_path)
    message = str(error.value)
    assert "transactions.parquet" in message and "'value_wei'" in message
    assert "'1.5e18'" in message and HASHES[2] in message


def test_rows_of_one_hash_that_disagree_fail(tmp_path: Path) -> None:
    rows = [*ROWS[:1], tx_row(PHISH, 0, 4_000_000, NORMAL, PHISH, value_wei="7")]
    with pytest.raises(SourceDataError, match=f"transaction {HASHES[0]} is listed twice"):
        read_xblock(write_folder(tmp_path, rows))


def test_an_account_missing_from_accounts_csv_fails(tmp_path: Path) -> None:
    rows = [*ROWS, {**tx_row(PHISH, 1, 5_000_000, PHISH, OUTSIDE), "account": OUTSIDE}]
    with pytest.raises(SourceDataError, match=f"account {OUTSIDE} .* not in accounts.csv"):
        read_xblock(write_folder(tmp_path, rows))


def test_a_label_that_contradicts_the_group_fails(tmp_path: Path) -> None:
    accounts = ACCOUNTS_CSV.replace("phishing,1,", "phishing,0,")
    with pytest.raises(SourceDataError, match=f"{PHISH} has label 0 but group 'phishing'"):
        read_xblock(write_folder(tmp_path, ROWS, accounts))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceDataError, match=r"transactions\.parquet not found"):
        read_xblock(tmp_path)


def test_lists_cover_every_feature_once() -> None:
    every = [*FEATURE_COLUMNS, *BEHAVIOUR_COLUMNS]
    assert sorted([*SUPPORTED, *UNSUPPORTED]) == sorted(every)
    assert not set(SUPPORTED) & set(UNSUPPORTED)
    for feature, reason in UNSUPPORTED.items():  # each reason names what the set lacks
        named = [c for c in (*LACKING_COLUMNS, "token_transfers") if c in reason]
        assert named, f"{feature}: {reason!r} names no missing column"


def test_supported_frame_selects_the_same_columns(tmp_path: Path) -> None:
    xblock = read_xblock(write_folder(tmp_path, ROWS))
    full = pipeline_features(
        xblock.transactions, xblock.token_transfers, [NORMAL, PHISH], xblock.as_of
    )
    assert supported_frame(full).columns == ["address", "first_activity", *SUPPORTED]
    with pytest.raises(ValueError, match="lacks hour_entropy"):
        supported_frame(full.drop("hour_entropy"))


# The real sample (raw_txns), full and reduced to the set's columns, as of Farrugia's crawl.
SAMPLE_AS_OF = datetime(2019, 4, 25, tzinfo=UTC)


def differing(full: pl.DataFrame, reduced: pl.DataFrame, column: str) -> int:
    """Accounts whose `column` differs (floats beyond 1e-9 relative, NULL vs value counts)."""
    left, right = full[column], reduced[column]
    if not (left.dtype.is_numeric() and right.dtype.is_numeric()):  # names and timestamps
        return int(left.ne_missing(right).sum())
    a, b = left.cast(pl.Float64), right.cast(pl.Float64)
    scale = pl.DataFrame({"a": a.abs(), "b": b.abs()}).max_horizontal()
    return int((((a - b).abs() > 1e-9 * scale) | (a.is_null() != b.is_null())).sum())


@pytest.fixture(scope="module")
def sample_both_ways(shared_data: Path) -> dict[str, pl.DataFrame]:
    """Features of the 4,113 in-subset accounts from the full sample, from the sample reduced
    to the set's columns, and reduced with receipt_status from Etherscan's is_error."""
    raw = shared_data / "raw_txns"
    if not (raw / "transactions.parquet").is_file():
        pytest.skip(f"real sample missing under {shared_data}")
    con = connect()
    register_sample_views(con, raw)
    universe = [row[0] for row in con.execute("SELECT address FROM universe").fetchall()]

    def as_arrow(sql: str) -> pa.Table:
        return con.sql(sql).to_arrow_table()

    tables: dict[str, tuple[pa.Table, pa.Table]] = {
        "full": (as_arrow("SELECT * FROM transactions"), as_arrow("SELECT * FROM token_transfers")),
        "reduced": (
            as_arrow(reduced_to_xblock("SELECT * FROM transactions")),
            empty_table(con, TOKEN_TRANSFERS),
        ),
    }
    parquet = sql_literal(str(raw / "transactions.parquet"))
    if "etherscan_is_error" in con.sql(f"SELECT * FROM read_parquet({parquet}) LIMIT 0").columns:
        from_is_error = (
            "SELECT t.* REPLACE (CAST(1 - r.etherscan_is_error AS BIGINT) AS receipt_status) "
            f"FROM transactions AS t JOIN read_parquet({parquet}) AS r ON r.hash = t.hash"
        )
        tables["is_error"] = (as_arrow(reduced_to_xblock(from_is_error)), tables["reduced"][1])
    assert len(universe) == 4113
    return {
        name: pipeline_features(tx, tokens, universe, SAMPLE_AS_OF)
        for name, (tx, tokens) in tables.items()
    }


def test_supported_features_equal_on_the_reduced_sample(sample_both_ways) -> None:
    full, reduced = sample_both_ways["full"], sample_both_ways["reduced"]
    assert full["address"].to_list() == reduced["address"].to_list()
    assert full.height == 4113
    unequal = {c: n for c in (*SUPPORTED, "first_activity") if (n := differing(full, reduced, c))}
    assert unequal == {}


def test_unsupported_features_differ_on_the_reduced_sample(sample_both_ways) -> None:
    full, reduced = sample_both_ways["full"], sample_both_ways["reduced"]
    equal = [c for c in UNSUPPORTED if differing(full, reduced, c) == 0]
    assert equal == []


def test_is_error_moves_few_accounts_of_status_dependent_features(sample_both_ways) -> None:
    """Etherscan's is_error misses some reverts of 2017-18 that BigQuery's receipt_status has
    (91 transactions of the sample): 27 of 4,113 accounts move, on status-dependent features."""
    if "is_error" not in sample_both_ways:
        pytest.skip("the real sample has no etherscan_is_error column")
    full, from_is_error = sample_both_ways["full"], sample_both_ways["is_error"]
    moved = {c: n for c in SUPPORTED if (n := differing(full, from_is_error, c))}
    status_dependent = {
        "failed_sent_share", "min_value_received", "max_value_received", "avg_val_received",
        "min_val_sent", "max_val_sent", "avg_val_sent", "total_ether_sent",
        "total_ether_received", "total_ether_balance", "sent_diff_between_max_and_min",
    }  # fmt: skip
    assert set(moved) <= status_dependent
    assert max(moved.values()) <= 41  # 1 % of the accounts


@pytest.fixture(scope="module")
def real_xblock(shared_data: Path):
    folder = shared_data / "xblock_2019"
    if not (folder / "transactions.parquet").is_file():
        pytest.skip(f"xblock_2019 missing under {shared_data}")
    return read_xblock(folder)


def test_real_set_accounts_and_mapping(real_xblock) -> None:
    accounts = pl.from_arrow(real_xblock.accounts)
    assert isinstance(accounts, pl.DataFrame)
    assert accounts.height == 2705
    assert dict(accounts["label"].value_counts().iter_rows()) == {0: 1300, 1: 1405}
    assert real_xblock.transactions.num_rows == 164_859  # 165,385 rows, 526 listed twice
    assert described(real_xblock.transactions) == list(TRANSACTIONS.columns)
    assert real_xblock.as_of == datetime(2019, 10, 9, tzinfo=UTC)


def test_real_set_features(real_xblock) -> None:
    features = xblock_features(real_xblock)
    accounts = pl.from_arrow(real_xblock.accounts)
    assert isinstance(accounts, pl.DataFrame)
    assert features.height == accounts.height == 2705
    assert features.columns == [*ACCOUNT_INFO_COLUMNS, *SUPPORTED]
    first = accounts.select("address", "first_ts").join(features, on="address")
    assert first.filter(pl.col("first_ts") != pl.col("first_activity")).height == 0
    assert features.filter(pl.col("sent_tnx") + pl.col("received_tnx") == 0).height == 0
