"""Counterparties, exposure, monthly activity and token holdings (eth_assets/scores/exposure.py) on
hand-built histories whose every figure is worked out by hand in the comments."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from eth_assets.common.duckdb_utils import connect
from eth_assets.features.universe import UNIVERSE_TABLE
from eth_assets.lake.compaction import LakeFiles
from eth_assets.scores.exposure import (
    COUNTERPARTIES_TABLE,
    EXPOSURE_PROVENANCE_TABLE,
    HOLDINGS_TABLE,
    INDIRECT_NOT_COMPLETE,
    LISTED_TABLE,
    MONTHLY_TABLE,
    ExposureInputs,
    compute_exposure_relations,
    exposure_declaration,
    exposure_declaration_problem,
    exposure_tables_from_lake,
    final_exposure,
    label_hits_frame,
    labels_fingerprint,
    publishable_exposure,
    read_exposure_provenance,
    token_holdings,
    top_counterparties,
    training_label_overlap,
    with_flagged_parts,
)
from eth_assets_tests.fixtures import (
    ETH,
    EXCHANGE,
    EXPOSURE_AS_OF,
    EXPOSURE_TRANSACTIONS,
    EXPOSURE_TRANSFERS,
    EXPOSURE_UNIVERSE,
    FLAGGED,
    HUGE,
    LISTED_1,
    LISTED_2,
    PAID,
    TOKEN_U,
    TOKEN_W,
    history_connection,
    transfer,
    tx,
    write_history_lake,
)

LISTED = {LISTED_1, LISTED_2}
NONE = "SELECT CAST(NULL AS VARCHAR) AS address WHERE false"


def _listed_sql() -> str:
    return f"SELECT unnest(['{LISTED_1}', '{LISTED_2}']) AS address"


def _pipeline(ring: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The pipeline's way: counterparty rows of the universe, and the base (totals and listed
    parts) with its flagged parts from the flagged addresses' own rows."""
    con = history_connection(EXPOSURE_TRANSACTIONS, EXPOSURE_TRANSFERS, EXPOSURE_UNIVERSE)
    compute_exposure_relations(
        con, EXPOSURE_AS_OF, "SELECT address FROM universe", _listed_sql(), NONE, ring=ring
    )
    rows = con.sql(
        "SELECT * FROM exposure_counterparties WHERE address IN (SELECT address FROM universe)"
    ).pl()
    base = with_flagged_parts(con.sql("SELECT * FROM exposure_base").pl(), rows, {FLAGGED})
    return rows, base


def _row(frame: pl.DataFrame, address: str) -> dict[str, object]:
    return frame.filter(pl.col("address") == address).row(0, named=True)


def _pair(frame: pl.DataFrame, address: str, counterparty: str) -> dict[str, object]:
    chosen = (pl.col("address") == address) & (pl.col("counterparty") == counterparty)
    return frame.filter(chosen).row(0, named=True)


def test_direct_exposure_by_hand() -> None:
    rows, base = _pipeline(ring=False)
    exposure = final_exposure(EXPOSURE_UNIVERSE, rows, base, LISTED, {FLAGGED}, indirect=False)
    paid = _row(exposure, PAID)
    # received 3 (LISTED_1) + 1 (LISTED_2) + 3 + 1 (EXCHANGE) = 8 ETH, 4 of them from listed
    assert paid["eth_received_total"] == pytest.approx(8.0)
    assert paid["eth_received_listed_share"] == pytest.approx(0.5)
    assert paid["eth_received_flagged_share"] == 0.0  # FLAGGED never paid it
    # sent 2 ETH, all to FLAGGED; the failed 9 ETH moved nothing
    assert paid["eth_sent_total"] == pytest.approx(2.0)
    assert paid["eth_sent_listed_share"] == 0.0
    assert paid["eth_sent_flagged_share"] == pytest.approx(1.0)
    # token transfers by count: 1 from LISTED_1, 4 from EXCHANGE; 1 sent, to FLAGGED
    assert paid["token_transfers_received_total"] == 5
    assert paid["token_transfers_received_listed_share"] == pytest.approx(0.2)
    assert paid["token_transfers_sent_flagged_share"] == pytest.approx(1.0)
    # not computed on a store of chosen histories
    assert paid["eth_received_indirect_listed_share"] is None
    assert paid["eth_sent_indirect_flagged_share"] is None
    flagged = _row(exposure, FLAGGED)
    # FLAGGED received 2 ETH from PAID (not flagged), sent 5 to EXCHANGE and 1 to LISTED_2
    assert flagged["eth_received_flagged_share"] == 0.0
    assert flagged["eth_sent_total"] == pytest.approx(6.0)
    assert flagged["eth_sent_listed_share"] == pytest.approx(1 / 6)


def test_indirect_exposure_by_hand_on_a_store_of_whole_histories() -> None:
    rows, base = _pipeline(ring=True)
    exposure = final_exposure(EXPOSURE_UNIVERSE, rows, base, LISTED, {FLAGGED}, indirect=True)
    paid = _row(exposure, PAID)
    # the direct shares do not change
    assert paid["eth_received_listed_share"] == pytest.approx(0.5)
    # listed: only EXCHANGE counts (both lists' addresses are direct only). EXCHANGE received
    # 40 ETH, 10 of them from LISTED_1: 4 ETH × 0.25 / 8 = 0.125
    assert paid["eth_received_indirect_listed_share"] == pytest.approx(0.125)
    # flagged: LISTED_2 received its only 1 ETH from FLAGGED (share 1.0), EXCHANGE 5 of 40
    # (0.125): (1 × 1.0 + 4 × 0.125) / 8 = 0.1875
    assert paid["eth_received_indirect_flagged_share"] == pytest.approx(0.1875)
    # sent: FLAGGED forwarded 1 of its 6 ETH to LISTED_2: 2 × (1/6) / 2; FLAGGED itself is
    # flagged, so it counts as direct only
    assert paid["eth_sent_indirect_listed_share"] == pytest.approx(1 / 6)
    assert paid["eth_sent_indirect_flagged_share"] == 0.0
    # EXCHANGE received no token transfer: its token shares are 0
    assert paid["token_transfers_received_indirect_listed_share"] == 0.0
    # FLAGGED received 2 ETH from PAID, half of whose ether came from the lists
    assert _row(exposure, FLAGGED)["eth_received_indirect_listed_share"] == pytest.approx(0.5)


def test_flagged_parts_from_the_flagged_rows_equal_the_counterparties_own() -> None:
    """address_scores derives the ring's flagged parts from the flagged addresses' rows; the
    page, from the counterparties' own rows: the same figures on a store of whole histories."""
    _, derived = _pipeline(ring=True)
    con = history_connection(EXPOSURE_TRANSACTIONS, EXPOSURE_TRANSFERS, EXPOSURE_UNIVERSE)
    compute_exposure_relations(
        con,
        EXPOSURE_AS_OF,
        "SELECT address FROM universe",
        _listed_sql(),
        f"SELECT '{FLAGGED}' AS address",
        ring=True,
    )
    direct = con.sql("SELECT * FROM exposure_base").pl()
    assert direct.sort("address").equals(derived.select(direct.columns).sort("address"))


def test_the_pipeline_tables_from_a_lake(tmp_path: Path) -> None:
    lake = LakeFiles(
        write_history_lake(tmp_path / "lake", EXPOSURE_TRANSACTIONS, EXPOSURE_TRANSFERS)
    )
    labels = pl.DataFrame({"address": [LISTED_1, LISTED_2], "source": ["list_a", "list_b"]})
    con = connect(tmp_path / "warehouse.duckdb")
    con.execute(
        f"CREATE TABLE {UNIVERSE_TABLE} AS SELECT unnest(?) AS address", [EXPOSURE_UNIVERSE]
    )
    written = exposure_tables_from_lake(
        con, lake, EXPOSURE_AS_OF, [], labels, True, {EXCHANGE: ["exchange"]}, {"run": "r1"}
    )
    assert written.indirect_note == "" and written.ring_addresses == 3  # LISTED_1/2, EXCHANGE
    counterparties = con.sql(f"SELECT * FROM {COUNTERPARTIES_TABLE}").pl()
    exchange = _pair(counterparties, PAID, EXCHANGE)
    assert (exchange["eth_in"], exchange["transactions_in"], exchange["token_transfers_in"]) == (
        4.0,
        2,
        4,
    )
    to_flagged = _pair(counterparties, PAID, FLAGGED)
    assert (to_flagged["eth_out"], to_flagged["transactions_out"]) == (2.0, 2)  # one failed
    monthly = con.sql(f"SELECT * FROM {MONTHLY_TABLE} WHERE address = ?", params=[PAID]).pl()
    assert monthly.rows() == [
        (PAID, "2021-01", 3, 2, 7.0, 2.0, 5, 1),
        (PAID, "2021-02", 1, 0, 1.0, 0.0, 0, 0),
    ]
    listed = con.sql(f"SELECT * FROM {LISTED_TABLE}").pl()
    assert set(listed.filter(~pl.col("in_universe"))["address"]) == {LISTED_1, LISTED_2, EXCHANGE}
    assert _row(listed, EXCHANGE)["eth_received_listed"] == pytest.approx(10.0)
    holdings = con.sql(f"SELECT * FROM {HOLDINGS_TABLE} WHERE address = ?", params=[PAID]).pl()
    assert holdings["token"].to_list() == [TOKEN_W, TOKEN_U]  # most transfers first
    provenance = read_exposure_provenance(con)
    assert json.loads(provenance["label_sources"]) == ["list_a", "list_b"]
    assert provenance["labels_fingerprint"] == labels_fingerprint(labels)
    assert provenance["complete_histories"] == "true" and provenance["run"] == "r1"
    assert con.sql("SELECT * FROM entity_labels").fetchall() == [(EXCHANGE, ["exchange"])]
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert EXPOSURE_PROVENANCE_TABLE in tables
    con.close()


def test_a_store_of_chosen_histories_leaves_indirect_null_with_a_note() -> None:
    rows, base = _pipeline(ring=False)
    inputs = ExposureInputs(
        counterparties=rows,
        listed=base.with_columns(in_universe=pl.lit(True)),
        monthly=pl.DataFrame(),
        holdings=pl.DataFrame(),
        entities=pl.DataFrame(),
        activity=None,
        provenance={
            "complete_histories": "false",
            "indirect_note": INDIRECT_NOT_COMPLETE,
            "label_sources": '["list_a"]',
        },
    )
    published = publishable_exposure(inputs, EXPOSURE_UNIVERSE, LISTED, {FLAGGED})
    paid = _row(published.exposure, PAID)
    assert paid["eth_received_listed_share"] == pytest.approx(0.5)
    assert paid["eth_sent_flagged_share"] == pytest.approx(1.0)
    indirect = [c for c in published.exposure.columns if "_indirect_" in c]
    assert len(indirect) == 8 and all(paid[c] is None for c in indirect)
    no_labels = pl.DataFrame(schema={"address": pl.Utf8, "source": pl.Utf8})
    declaration = exposure_declaration(
        ["list_a"], training_label_overlap(no_labels, None), INDIRECT_NOT_COMPLETE, True
    )
    assert "whole histories only for the universe" in str(declaration["indirect_note"])


def test_without_any_label_list_listed_shares_are_unknown() -> None:
    rows, base = _pipeline(ring=True)
    exposure = final_exposure(
        EXPOSURE_UNIVERSE, rows, base, set(), {FLAGGED}, indirect=True, lists_read=False
    )
    paid = _row(exposure, PAID)
    assert paid["eth_received_listed_share"] is None
    assert paid["eth_received_indirect_listed_share"] is None
    assert paid["eth_sent_flagged_share"] == pytest.approx(1.0)


def test_top_counterparties_by_value_and_by_count() -> None:
    rows, _ = _pipeline(ring=False)
    top = top_counterparties(rows, top=3).filter(pl.col("address") == PAID)
    by_value = top.filter(pl.col("rank_by_value").is_not_null()).sort("rank_by_value")
    by_count = top.filter(pl.col("rank_by_count").is_not_null()).sort("rank_by_count")
    # value: EXCHANGE 4, LISTED_1 3, FLAGGED 2 (LISTED_2's 1 ETH is fourth)
    assert by_value["counterparty"].to_list() == [EXCHANGE, LISTED_1, FLAGGED]
    # count: EXCHANGE 2 + 4, FLAGGED 2 + 1, LISTED_1 1 + 1
    assert by_count["counterparty"].to_list() == [EXCHANGE, FLAGGED, LISTED_1]
    assert LISTED_2 not in top["counterparty"].to_list()


def test_self_transfers_are_counterparty_rows_but_no_exposure() -> None:
    con = history_connection(
        [tx("0xs1", 1, PAID, PAID, 5 * ETH), tx("0xs2", 2, LISTED_1, PAID, ETH)], [], [PAID]
    )
    compute_exposure_relations(
        con, EXPOSURE_AS_OF, "SELECT address FROM universe", _listed_sql(), NONE, ring=False
    )
    rows = con.sql("SELECT * FROM exposure_counterparties").pl()
    assert _pair(rows, PAID, PAID)["eth_in"] == 5.0
    base = con.sql("SELECT * FROM exposure_base").pl()
    exposure = final_exposure([PAID], rows, base, LISTED, set(), indirect=False)
    assert _row(exposure, PAID)["eth_received_total"] == 1.0
    assert _row(exposure, PAID)["eth_received_listed_share"] == 1.0
    assert PAID not in top_counterparties(rows)["counterparty"].to_list()


def test_token_holdings_are_exact_and_say_their_units() -> None:
    token_18 = "0x" + "18" * 20
    rows = [
        *EXPOSURE_TRANSFERS,
        # 2^255 in and 2^255 − 1 out: 1 raw unit left, which DOUBLE arithmetic loses
        transfer("0xh1", 1, token_18, LISTED_1, PAID, HUGE, "E", "Eighteen", 18),
        transfer("0xh2", 2, token_18, PAID, LISTED_1, HUGE - 1, "E", "Eighteen", 18),
        # received and sent back in full: no balance, no row
        transfer("0xh3", 3, LISTED_2, LISTED_1, PAID, 5, "Z", "Zero", 0),
        transfer("0xh4", 4, LISTED_2, PAID, LISTED_1, 5, "Z", "Zero", 0),
    ]
    con = history_connection([], rows, [PAID])
    compute_exposure_relations(
        con, EXPOSURE_AS_OF, "SELECT address FROM universe", NONE, NONE, ring=False
    )
    holdings = token_holdings(con.sql("SELECT * FROM exposure_holding_parts").pl())
    assert holdings["token"].to_list() == [TOKEN_W, token_18, TOKEN_U]
    w, eighteen, unknown = holdings.iter_rows(named=True)
    # W: 500 + 3 × 700 − 200 = 2400 raw units, 2 decimals
    assert (w["balance_raw"], w["balance"], w["units"], w["name"]) == (
        "2400",
        24.0,
        "tokens",
        "Token W",
    )
    assert (eighteen["balance_raw"], eighteen["balance"]) == ("1", 1e-18)
    assert unknown["balance_raw"] == str(HUGE) and unknown["balance"] is None
    assert unknown["units"] == "raw units"
    assert token_holdings(con.sql("SELECT * FROM exposure_holding_parts").pl(), top=1).height == 1


def test_label_hits_are_objects_with_iso_dates() -> None:
    labels = pl.DataFrame(
        {
            "address": [PAID, PAID, LISTED_1, LISTED_1],
            "source": ["mew_darklist", "cryptoscamdb", "etherscamdb", "etherscamdb"],
            "category": ["darklist", "Scamming", "Phishing", "Phishing"],
            "subcategory": [None, "Trust-Trading", None, None],
            "name": ["Fake MEW", "eth.ug", None, None],
            "date": ["2018-03-12", "7/22/17", "not a date", "not a date"],
        }
    )
    hits = label_hits_frame(labels)
    assert hits.schema["label_hits"] == pl.List(
        pl.Struct({"source": pl.Utf8, "category": pl.Utf8, "name": pl.Utf8, "date": pl.Utf8})
    )
    by_address = dict(zip(hits["address"], hits["label_hits"].to_list(), strict=True))
    assert by_address[PAID] == [
        {"source": "cryptoscamdb", "category": "Scamming", "name": "eth.ug", "date": "2017-07-22"},
        {
            "source": "mew_darklist",
            "category": "darklist",
            "name": "Fake MEW",
            "date": "2018-03-12",
        },
    ]
    assert by_address[LISTED_1] == [
        {"source": "etherscamdb", "category": "Phishing", "name": None, "date": None}
    ]


def _overlap() -> pl.DataFrame:
    labels = pl.DataFrame(
        {"address": [LISTED_1, LISTED_2, PAID], "source": ["list_a", "list_b", "list_b"]}
    )
    training = pl.DataFrame(
        {"address": [LISTED_2, PAID], "label": [1, 0], "in_training": [True, True]}
    )
    return training_label_overlap(labels, training)


def test_the_lists_that_also_trained_the_model_are_found_from_data() -> None:
    overlap = _overlap()
    assert overlap.rows() == [("list_a", 1, 0), ("list_b", 2, 1)]
    declaration = exposure_declaration(["list_a", "list_b"], overlap, "", True)
    assert declaration["sources_also_training_labels"] == ["list_b"]
    assert "list_b also gave the model's training labels" in str(declaration["note"])


def test_the_declaration_check_fails_when_the_overlap_is_not_declared() -> None:
    overlap = _overlap()
    declared = {"exposure": exposure_declaration(["list_a", "list_b"], overlap, "", True)}
    assert exposure_declaration_problem(declared, ["list_a", "list_b"], overlap, True) is None
    silent = {"exposure": {**declared["exposure"], "sources_also_training_labels": []}}
    problem = exposure_declaration_problem(silent, ["list_a", "list_b"], overlap, True)
    assert problem is not None and "list_b (1 training illicit addresses)" in problem
    assert "does not declare it" in problem
    unstated = exposure_declaration_problem({}, ["list_a"], overlap, True)
    assert unstated is not None and "no `exposure` block" in unstated
    other = exposure_declaration_problem(declared, ["list_a"], overlap, True)
    assert other is not None and "computed from ['list_a']" in other
    stale = exposure_declaration_problem(
        declared, ["list_a", "list_b"], overlap, True, labels_changed=True
    )
    assert stale is not None and "materialize address_exposure" in stale
