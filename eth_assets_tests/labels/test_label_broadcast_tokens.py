"""Label-broadcast tokens: their transfers are labels written on chain, never features."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.common.addresses import InvalidAddressError
from eth_assets.common.duckdb_utils import connect
from eth_assets.features.farrugia import register_sample_views
from eth_assets.features.feature_provenance import Provenance, read_provenance
from eth_assets.features.feature_tables import (
    excluded_transfers,
    feature_tables_from_lake,
    features_from_lake,
    register_lake_views,
    without_tokens,
)
from eth_assets.labels.label_broadcast import (
    MIN_RECIPIENTS,
    BroadcastRule,
    detect_label_broadcast_tokens,
    left_out_table,
    tokens_left_out,
)
from eth_assets.labels.label_broadcast import TABLE as BROADCAST_TABLE
from eth_assets.labels.label_files import read_label_files
from eth_assets.resources.chain_sources import SHARED_LABEL_FILES
from eth_assets.scores.publication import on_the_fly_terms
from eth_assets.settings import DEFAULT_LABEL_BROADCAST_TOKENS
from eth_assets_tests.fixtures import (
    ALICE,
    BOB,
    HISTORY_AS_OF,
    TOKEN_ROWS,
    TRANSACTIONS_ROWS,
    UNIVERSE,
    D,
    X,
    Y,
    create_table,
    repeated_address,
    transfer,
    ts,
)

NOTSAFU = DEFAULT_LABEL_BROADCAST_TOKENS[0]
# D is sent one NOTSAFU token, as the airdrops marked listed addresses.
BROADCAST = transfer("0xnotsafu", 300, NOTSAFU, X, D, 1, "NOTSAFU", "Not Safu", 0)


class Tables:
    """Raw relations over in-memory tables named raw_<table>."""

    def relation_sql(self, name: str) -> str:
        return f"SELECT * FROM raw_{name}"


def _features(token_rows: list[tuple], excluded: tuple[str, ...]) -> pl.DataFrame:
    con = connect()
    create_table(con, "raw_transactions", TRANSACTIONS.columns, TRANSACTIONS_ROWS)
    create_table(con, "raw_token_transfers", TOKEN_TRANSFERS.columns, token_rows)
    create_table(con, "address_universe", [("address", "VARCHAR")], [(a,) for a in UNIVERSE])
    features_from_lake(con, Tables(), HISTORY_AS_OF, excluded)
    frame = con.sql("SELECT * FROM address_features ORDER BY address").pl()
    if excluded:
        assert excluded_transfers(con, Tables(), excluded, HISTORY_AS_OF) == (
            int(BROADCAST in token_rows),
            int(BROADCAST in token_rows),
        )
    con.close()
    return frame


def test_no_feature_is_computed_from_label_broadcast_tokens() -> None:
    without_broadcast = _features(TOKEN_ROWS, ())
    left_out = _features([*TOKEN_ROWS, BROADCAST], DEFAULT_LABEL_BROADCAST_TOKENS)
    assert left_out.equals(without_broadcast)


def test_kept_they_change_the_token_features() -> None:
    kept = _features([*TOKEN_ROWS, BROADCAST], ()).filter(pl.col("address") == D)
    plain = _features(TOKEN_ROWS, ()).filter(pl.col("address") == D)
    assert kept["total_erc20_tnxs"][0] == plain["total_erc20_tnxs"][0] + 1
    assert kept["erc20_uniq_rec_token_name"][0] == plain["erc20_uniq_rec_token_name"][0] + 1


def test_token_list_is_checked_and_any_case_accepted() -> None:
    upper = "0x" + NOTSAFU[2:].upper()
    assert f"'{NOTSAFU}'" in without_tokens("SELECT 1", [upper])
    with pytest.raises(InvalidAddressError, match="'0xnot-a-token'"):
        without_tokens("SELECT 1", ["0xnot-a-token"])
    assert without_tokens("SELECT 1", []) == "SELECT 1"


# Label-broadcast tokens found from data (eth_assets/labels/label_broadcast.py).

AIRDROP_AS_OF = datetime(2021, 2, 1, tzinfo=UTC)


def _addresses(prefix: str, n: int) -> list[str]:
    """`n` distinct addresses starting with the two hex digits `prefix`."""
    return [f"0x{prefix}{i:038x}" for i in range(n)]


LISTED = _addresses("a0", 60)
UNLISTED = _addresses("b0", 60)


def _sends(token: str, senders: list[str], recipients: list[str], name: str) -> list[tuple]:
    """One transfer of `token` to each recipient, the senders taking turns, on 2021-01-05."""
    return [
        transfer(f"0x{name}{i}", 4 * 24 * 60 + i, token, senders[i % len(senders)], to, 1, name,
                 name, 0)
        for i, to in enumerate(recipients)
    ]  # fmt: skip


def _detect(rows: list[tuple], as_of: datetime = AIRDROP_AS_OF) -> pl.DataFrame:
    con = connect()
    create_table(con, "token_transfers", TOKEN_TRANSFERS.columns, rows)
    create_table(con, "labels", [("address", "VARCHAR")], [(a.upper(),) for a in LISTED])
    evidence = detect_label_broadcast_tokens(con, "SELECT address FROM labels", as_of)
    con.close()
    return evidence


def _flags(rows: list[tuple], as_of: datetime = AIRDROP_AS_OF) -> dict[str, bool]:
    evidence = _detect(rows, as_of)
    return dict(zip(evidence["token_name"], evidence["flagged"], strict=True))


def test_an_airdrop_onto_listed_addresses_is_flagged_and_others_are_not() -> None:
    listed, unlisted = LISTED[:30], UNLISTED[:30]
    half = LISTED[:15] + UNLISTED[:15]
    handful = [repeated_address(f"5{i}") for i in range(9)]  # NOTSAFU names 9 spoofed senders
    holders = _addresses("c0", 30)  # a traded token: every recipient paid by another holder
    few = LISTED[: MIN_RECIPIENTS - 1]
    rows = [
        *_sends(repeated_address("71"), [X], listed, "one"),
        *_sends(repeated_address("72"), handful, listed, "handful"),
        *_sends(repeated_address("73"), [X], unlisted, "unlisted"),
        *_sends(repeated_address("74"), [X], half, "baserate"),
        *_sends(repeated_address("75"), holders, listed, "popular"),
        *_sends(repeated_address("76"), [X], few, "few"),
        *_sends(repeated_address("77"), [X], few * 3, "repeated"),  # transfers, not recipients
    ]
    assert _flags(rows) == {
        "one": True,
        "handful": True,
        "unlisted": False,
        "baserate": False,
        "popular": False,
        "few": False,
        "repeated": False,
    }


def test_the_evidence_of_a_flagged_airdrop() -> None:
    token = repeated_address("71")
    rows = _sends(token.upper().replace("0X", "0x"), [X, Y], LISTED[:29] + UNLISTED[:1], "drop")
    row = _detect(rows).row(0, named=True)
    assert row["token_address"] == token
    assert (row["transfers"], row["recipients"], row["labelled_recipients"]) == (30, 30, 29)
    assert (row["senders"], row["top_senders_share"]) == (2, 1.0)
    assert row["labelled_share"] == pytest.approx(29 / 30)  # below 0.97: one unlisted in 30
    assert row["flagged"] is False
    assert row["first_transfer"] == datetime(2021, 1, 5, tzinfo=UTC)
    assert row["last_transfer"] == datetime(2021, 1, 5, 0, 29, tzinfo=UTC)
    # the lists' share of all token recipients, the base rate the share is compared with
    assert row["base_labelled_share"] == pytest.approx(29 / 30)


def test_only_transfers_before_as_of_count() -> None:
    rows = _sends(repeated_address("71"), [X], LISTED[:30], "drop")
    assert _flags(rows, datetime(2021, 1, 5, 0, 24, tzinfo=UTC)) == {"drop": False}  # 24 sent
    assert _flags(rows, datetime(2021, 1, 5, 0, 25, tzinfo=UTC)) == {"drop": True}
    assert _detect(rows, datetime(2021, 1, 5, tzinfo=UTC)).height == 0


def test_thresholds_are_a_rule_that_can_be_changed() -> None:
    rows = _sends(repeated_address("71"), [X], LISTED[:10], "drop")
    con = connect()
    create_table(con, "token_transfers", TOKEN_TRANSFERS.columns, rows)
    create_table(con, "labels", [("address", "VARCHAR")], [(a,) for a in LISTED])
    loose = BroadcastRule(min_recipients=10)
    labelled = "SELECT address FROM labels"
    assert detect_label_broadcast_tokens(con, labelled, AIRDROP_AS_OF, loose)["flagged"][0]
    assert not detect_label_broadcast_tokens(con, labelled, AIRDROP_AS_OF)["flagged"][0]
    with pytest.raises(ValueError, match="labelled_addresses"):
        detect_label_broadcast_tokens(con, "SELECT address FROM labelled_addresses", AIRDROP_AS_OF)


def test_configured_tokens_are_always_left_out_and_detected_ones_added() -> None:
    detected = repeated_address("71")
    rows = [
        *_sends(detected, [X], LISTED[:30], "drop"),
        *_sends(NOTSAFU, [X], UNLISTED[:3], "NOTSAFU"),
    ]
    evidence = _detect(rows)
    configured = [NOTSAFU.upper().replace("0X", "0x"), DEFAULT_LABEL_BROADCAST_TOKENS[1]]
    assert tokens_left_out(configured, evidence) == (NOTSAFU, configured[1], detected)
    assert tokens_left_out(configured, None) == (NOTSAFU, configured[1])
    assert tokens_left_out((), evidence) == (detected,)
    table = left_out_table(configured, evidence)
    assert table["left_out"].to_list() == ["configured", "configured", "detected"]
    assert table["recipients"].to_list() == [3, None, 30]  # the second has no transfer
    assert left_out_table(configured, None).columns == ["token_address", "left_out"]


def test_the_detection_is_stored_with_the_features_and_dropped_without_one() -> None:
    broadcast = repeated_address("71")
    rows = [*TOKEN_ROWS, *_sends(broadcast, [X], [D, *LISTED[:29]], "drop")]
    con = connect()
    create_table(con, "raw_transactions", TRANSACTIONS.columns, TRANSACTIONS_ROWS)
    create_table(con, "raw_token_transfers", TOKEN_TRANSFERS.columns, rows)
    create_table(con, "address_universe", [("address", "VARCHAR")], [(a,) for a in UNIVERSE])
    create_table(con, "labels", [("address", "VARCHAR")], [(a,) for a in [D, *LISTED]])
    register_lake_views(con, Tables())
    evidence = detect_label_broadcast_tokens(con, "SELECT address FROM labels", AIRDROP_AS_OF)
    excluded = tokens_left_out((), evidence)
    assert excluded == (broadcast,)
    provenance = Provenance(HISTORY_AS_OF, "local", "t", True, "full chain", "", "", excluded)
    feature_tables_from_lake(con, Tables(), HISTORY_AS_OF, excluded, provenance, evidence)
    stored = con.sql(f"SELECT token_address, flagged FROM {BROADCAST_TABLE} WHERE flagged").pl()
    assert stored.rows() == [(broadcast, True)]
    assert read_provenance(con).excluded_tokens == (broadcast,)
    d = con.sql(f"SELECT total_erc20_tnxs FROM address_features WHERE address = '{D}'").pl()
    assert d.item() == 2  # its two DAI/Zeta transfers; the airdrop is left out
    feature_tables_from_lake(con, Tables(), HISTORY_AS_OF, (), provenance)
    tables = con.sql("SELECT table_name FROM duckdb_tables()").pl()["table_name"].to_list()
    assert BROADCAST_TABLE not in tables
    con.close()


# On the real sample (../shared/data; skipped without it).

BRIEF_BLOCKWELL = "0xb84f655d4aad12b3533218ffeeb1e90e16439217"  # airdropped 2019-05-13
NOTSAFU_MAY = DEFAULT_LABEL_BROADCAST_TOKENS[1]
ARNOYA_CLASSIC = "0x7495e5cc8f27e0bd5bd4cb86d17f0d841ca58ee4"  # onto 658 listed accounts, 2022-09
SCAM_STAMPS = set(DEFAULT_LABEL_BROADCAST_TOKENS[2:5])  # 2-3 recipients each in the sample
LAKE_END = datetime(2022, 11, 16, tzinfo=UTC)  # the sample's last day is 2022-11-15
FARRUGIA_CUTOFF = datetime(2019, 4, 25, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample(shared_data: Path):
    """The real sample as raw tables (`raw_transactions`, `raw_token_transfers`), its universe
    as `address_universe` and the four label lists as `labels`, read as illicit_labels does.
    Shared read-only by the module's tests; a test that writes views uses `own_sample`."""
    yield from _sample_connection(shared_data)


@pytest.fixture
def own_sample(shared_data: Path):
    """The same as `sample`, for one test alone (its feature run replaces the sample's views)."""
    yield from _sample_connection(shared_data)


def _sample_connection(shared_data: Path):
    raw = shared_data / "raw_txns"
    files = [shared_data / "labels" / name for name in SHARED_LABEL_FILES]
    missing = [str(p) for p in [raw / "token_transfers.parquet", *files] if not p.is_file()]
    if missing:
        pytest.skip(f"real sample files missing: {', '.join(missing)}")
    con = connect()
    register_sample_views(con, raw)
    labels = read_label_files(files).labels.select("address").unique()
    con.register("label_frame", labels.to_arrow())
    con.execute("CREATE TABLE labels AS SELECT address FROM label_frame").fetchall()
    for name in ("transactions", "token_transfers"):
        con.execute(f"CREATE TABLE raw_{name} AS SELECT * FROM {name}").fetchall()
    con.execute(
        "CREATE TABLE address_universe AS SELECT address, "
        "address IN (SELECT address FROM labels) AS is_labelled_illicit FROM universe"
    ).fetchall()
    yield con
    con.close()


def _flagged(evidence: pl.DataFrame) -> set[str]:
    return set(evidence.filter(pl.col("flagged"))["token_address"])


@pytest.mark.e2e  # the whole real sample
def test_real_sample_flags_the_broadcasts_as_of_the_lake_end(sample) -> None:
    evidence = detect_label_broadcast_tokens(sample, "SELECT address FROM labels", LAKE_END)
    assert _flagged(evidence) == {NOTSAFU, NOTSAFU_MAY, BRIEF_BLOCKWELL, ARNOYA_CLASSIC}
    row = evidence.filter(pl.col("token_address") == BRIEF_BLOCKWELL).row(0, named=True)
    assert (row["transfers"], row["recipients"], row["labelled_recipients"]) == (381, 288, 286)
    assert row["senders"] == 9
    # With the configured list, all six known broadcasts and Arnoya classic are left out; the
    # SCAM Stamp/Seal tokens reach too few addresses of the sample to be found from data.
    left_out = tokens_left_out(DEFAULT_LABEL_BROADCAST_TOKENS, evidence)
    assert set(left_out) == {*DEFAULT_LABEL_BROADCAST_TOKENS, BRIEF_BLOCKWELL, ARNOYA_CLASSIC}
    scam = evidence.filter(pl.col("token_address").is_in(list(SCAM_STAMPS)))
    assert scam["recipients"].max() <= 3
    # Popular tokens and ordinary airdrops reach the half-listed universe at about its base rate.
    names = ["TIME", "OMG Network", "EOS", "An Etheal Promo"]
    popular = evidence.filter(pl.col("token_name").is_in(names))
    assert popular.height == 4 and popular["labelled_share"].max() < 0.6
    assert not popular["flagged"].any()
    # The nearest miss: an 'ERC20' airdrop with 124 of its 132 recipients listed.
    unflagged = evidence.filter(~pl.col("flagged") & (pl.col("recipients") >= MIN_RECIPIENTS))
    assert unflagged["labelled_share"].max() == pytest.approx(124 / 132)


@pytest.mark.e2e  # the whole real sample
def test_real_sample_as_of_the_farrugia_cutoff(sample) -> None:
    """Before 2019-04-25 only the January NOTSAFU airdrop and the 2017 SCAM tokens existed."""
    evidence = detect_label_broadcast_tokens(sample, "SELECT address FROM labels", FARRUGIA_CUTOFF)
    assert _flagged(evidence) == {NOTSAFU}
    existing = set(evidence["token_address"]) & {*DEFAULT_LABEL_BROADCAST_TOKENS, BRIEF_BLOCKWELL}
    assert existing == {NOTSAFU, *SCAM_STAMPS}


@pytest.mark.e2e  # the whole real sample
def test_real_sample_universe_labels_give_the_same_flags(sample) -> None:
    """The warehouse's `is_labelled_illicit` as the label relation finds the same tokens."""
    universe = "SELECT address FROM address_universe WHERE is_labelled_illicit"
    evidence = detect_label_broadcast_tokens(sample, universe, LAKE_END)
    assert _flagged(evidence) == {NOTSAFU, NOTSAFU_MAY, BRIEF_BLOCKWELL, ARNOYA_CLASSIC}


@pytest.mark.e2e  # the whole real sample
def test_real_sample_features_leave_out_the_detected_tokens(own_sample) -> None:
    """A full-history features run with nothing configured leaves out brief.blockwell.ai, and
    its provenance (what the on-the-fly scorer reads) lists every token left out."""
    sample = own_sample
    register_lake_views(sample, Tables())
    evidence = detect_label_broadcast_tokens(sample, "SELECT address FROM labels", LAKE_END)
    excluded = tokens_left_out((), evidence)
    assert BRIEF_BLOCKWELL in excluded
    provenance = Provenance(
        LAKE_END, "local", "parquet:sample", True, "full chain", "", "sample", excluded
    )
    rows = feature_tables_from_lake(sample, Tables(), LAKE_END, excluded, provenance, evidence)
    assert rows == 4113
    assert excluded_transfers(sample, Tables(), [BRIEF_BLOCKWELL], LAKE_END) == (381, 287)
    # the token view the features read holds none of its transfers; Arnoya classic, the token
    # 600 illicit accounts received most when kept, is no account's most received any more
    left = f"SELECT count(*) FROM token_transfers WHERE token_address = '{BRIEF_BLOCKWELL}'"
    assert sample.sql(left).fetchall() == [(0,)]
    most = (
        "SELECT count(*) FROM address_features WHERE erc20_most_rec_token_type = 'Arnoya classic'"
    )
    assert sample.sql(most).fetchall() == [(0,)]
    stored = sample.sql(f"SELECT token_address FROM {BROADCAST_TABLE} WHERE flagged").pl()
    assert set(stored["token_address"]) == set(excluded)
    terms = on_the_fly_terms(
        read_provenance(sample), {"chain_source": "parquet:sample", "as_of": LAKE_END.isoformat()}
    )
    assert terms["allowed"] and set(terms["excluded_tokens"]) == set(excluded)


# Wired through the address_features asset, on hand-built data.


def _airdrop_run(tmp_path: Path, resources: dict[str, object], detect: bool):
    """raw → labels → universe → features over the hand-built folder plus one airdrop of a token
    onto 30 listed addresses on 2020-01-02."""
    from dagster import DagsterInstance, materialize

    from eth_assets.features.feature_assets import address_features, address_universe
    from eth_assets.labels.label_assets import illicit_labels
    from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions

    listed = LISTED[:30]
    transfers = tmp_path / "source" / "token_transfers.parquet"
    if not (tmp_path / "labels.json").exists():
        original = pq.read_table(transfers)
        drop = pa.table(
            {
                "token_address": [AIRDROPPED] * 30,
                "from_address": [X] * 30,
                "to_address": listed,
                "value": ["1"] * 30,
                "transaction_hash": [f"0xdrop{i}" for i in range(30)],
                "block_number": pa.array([250] * 30, pa.int64()),
                "block_hash": ["0xb2"] * 30,
                "block_timestamp": pa.array([ts(2)] * 30, pa.timestamp("us", tz="UTC")),
                "token_name": ["Listed"] * 30,
                "token_symbol": ["LST"] * 30,
                "token_decimals": ["0"] * 30,
            }
        )
        pq.write_table(pa.concat_tables([original, drop.select(original.column_names)]), transfers)
        entries = [{"address": a, "comment": "Phishing", "date": "2019-01-01"} for a in listed]
        (tmp_path / "labels.json").write_text(json.dumps(entries))
        (tmp_path / "universe.csv").write_text("address\n" + "\n".join([ALICE, BOB, *listed]))
    return materialize(
        [raw_transactions, raw_token_transfers, illicit_labels, address_universe, address_features],
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2020-01-01",
            "dagster/asset_partition_range_end": "2020-01-03",
        },
        run_config={
            "ops": {
                "illicit_labels": {"config": {"files": [str(tmp_path / "labels.json")]}},
                "address_universe": {"config": {"address_file": str(tmp_path / "universe.csv")}},
                "address_features": {"config": {"detect_label_broadcast_tokens": detect}},
            }
        },
    )


AIRDROPPED = repeated_address("7a")


def test_address_features_leaves_out_detected_tokens(
    tmp_path: Path, resources: dict[str, object]
) -> None:
    result = _airdrop_run(tmp_path, resources, detect=True)
    assert result.success
    meta = result.asset_materializations_for_node("address_features")[0].metadata
    left_out = meta["label_broadcast_tokens_left_out"].value.split(", ")
    assert left_out == [*DEFAULT_LABEL_BROADCAST_TOKENS, AIRDROPPED]
    table = meta["label_broadcast_tokens"].value
    assert f"| {AIRDROPPED} | detected | Listed | 30 | 30 | 30 | 1.0 | 1 | 1.0 |" in table
    assert f"| {NOTSAFU} | configured | None |" in table  # no transfer in this lake
    assert meta["label_broadcast_detection"].value.startswith("1 of 2 tokens flagged")
    warehouse = tmp_path / "warehouse.duckdb"
    with connect(warehouse, read_only=True) as con:
        flagged = con.sql(f"SELECT token_address FROM {BROADCAST_TABLE} WHERE flagged").fetchall()
        assert flagged == [(AIRDROPPED,)]
        excluded = list(read_provenance(con).excluded_tokens)
        assert excluded == left_out
        erc20 = f"SELECT total_erc20_tnxs FROM address_features WHERE address = '{LISTED[0]}'"
        assert con.sql(erc20).fetchall() == [(0,)]

    kept = _airdrop_run(tmp_path, resources, detect=False)
    assert kept.success
    meta = kept.asset_materializations_for_node("address_features")[0].metadata
    assert meta["label_broadcast_detection"].value == "off"
    with connect(warehouse, read_only=True) as con:
        tables = con.sql("SELECT table_name FROM duckdb_tables()").fetchall()
        assert (BROADCAST_TABLE,) not in tables
        excluded = list(read_provenance(con).excluded_tokens)
        assert excluded == list(DEFAULT_LABEL_BROADCAST_TOKENS)
        assert con.sql(erc20).fetchall() == [(1,)]
