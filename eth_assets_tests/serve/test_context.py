"""Snapshot.context: an address's exposure, counterparties, activity, holdings and score history,
from a published snapshot's attachments and, for an address the snapshot lacks, on the fly from
the lake; the figures of the hand-built history (eth_assets_tests/test_exposure.py) both ways."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from eth_assets.common.duckdb_utils import connect
from eth_assets.features.feature_tables import create_address_activity
from eth_assets.features.universe import UNIVERSE_TABLE
from eth_assets.lake.compaction import LakeFiles
from eth_assets.scores.exposure import (
    COUNTERPARTIES_TABLE,
    ENTITY_TABLE,
    HOLDINGS_TABLE,
    LISTED_TABLE,
    MONTHLY_TABLE,
    AddressExposure,
    ExposureInputs,
    exposure_declaration,
    exposure_tables_from_lake,
    label_hits_frame,
    publishable_exposure,
    read_exposure_provenance,
    training_label_overlap,
)
from eth_assets.scores.snapshot import (
    COUNTERPARTIES,
    ENTITIES,
    EXPOSURE,
    HOLDINGS,
    LABELS,
    MANIFEST,
    MONTHLY,
    publish_snapshot,
)
from eth_assets.serve.context import (
    AddressContexts,
    PastScores,
    read_past_scores,
)
from eth_assets.serve.on_the_fly import OnTheFlyScorer
from eth_assets.serve.snapshot_loader import Snapshot, SnapshotSource, load_snapshot
from eth_assets_tests.fixtures import (
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
    at,
    publish_hand_made_scores,
    write_history_lake,
)

LABEL_ROWS = pl.DataFrame(
    {
        "address": [LISTED_1, LISTED_2],
        "source": ["list_a", "list_a"],
        "category": ["phishing", "scam"],
        "name": ["Fake wallet", None],
        "date": ["2020-12-01", None],
    }
)
ENTITIES_MAP = {EXCHANGE: ["exchange"]}
NOBODY = "0x" + "12" * 20
KEYS = {"exposure", "counterparties", "activity", "holdings", "score_history"}
SHARE_KEYS = {
    "listed_share",
    "flagged_share",
    "indirect_listed_share",
    "indirect_flagged_share",
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> LakeFiles:
    root = tmp_path_factory.mktemp("lake") / "lake"
    return LakeFiles(write_history_lake(root, EXPOSURE_TRANSACTIONS, EXPOSURE_TRANSFERS))


def _declaration() -> dict[str, object]:
    training = pl.DataFrame({"address": [LISTED_1], "label": [1], "in_training": [True]})
    return exposure_declaration(
        ["list_a"], training_label_overlap(LABEL_ROWS, training), "", training_known=True
    )


def _pipeline_frames(lake: LakeFiles, folder: Path) -> AddressExposure:
    """What address_exposure stores and address_scores publishes, for the hand-built history."""
    con = connect(folder / "warehouse.duckdb")
    con.execute(
        f"CREATE TABLE {UNIVERSE_TABLE} AS SELECT unnest(?) AS address", [EXPOSURE_UNIVERSE]
    )
    exposure_tables_from_lake(con, lake, EXPOSURE_AS_OF, [], LABEL_ROWS, True, ENTITIES_MAP, {})
    con.execute("CREATE TEMP VIEW universe AS SELECT address FROM address_universe")
    create_address_activity(con, EXPOSURE_AS_OF)
    read = {
        t: con.sql(f"SELECT * FROM {t}").pl()
        for t in (COUNTERPARTIES_TABLE, LISTED_TABLE, MONTHLY_TABLE, HOLDINGS_TABLE, ENTITY_TABLE)
    }
    inputs = ExposureInputs(
        counterparties=read[COUNTERPARTIES_TABLE],
        listed=read[LISTED_TABLE],
        monthly=read[MONTHLY_TABLE],
        holdings=read[HOLDINGS_TABLE],
        entities=read[ENTITY_TABLE],
        activity=con.sql("SELECT * FROM address_activity").pl(),
        provenance=read_exposure_provenance(con),
    )
    con.close()
    listed = LABEL_ROWS["address"].to_list()
    return publishable_exposure(inputs, EXPOSURE_UNIVERSE, listed, [FLAGGED])


def _scores(probabilities: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "address": list(probabilities),
            "has_activity": [True] * len(probabilities),
            "probability": list(probabilities.values()),
            "is_flagged": [p >= 0.5 for p in probabilities.values()],
            "band": ["high" if p >= 0.5 else "low" for p in probabilities.values()],
        }
    )


def _publish(
    folder: Path, name: str, scores: pl.DataFrame, frames: AddressExposure, published_at: str
) -> None:
    manifest = {
        "model": f"model {name}",
        "as_of": EXPOSURE_AS_OF.isoformat(),
        "published_at": published_at,
        "exposure": _declaration(),
    }
    entities = pl.DataFrame(
        {"address": list(ENTITIES_MAP), "kinds": list(ENTITIES_MAP.values())},
        schema={"address": pl.Utf8, "kinds": pl.List(pl.Utf8)},
    )
    attachments = {
        LABELS: lambda path: label_hits_frame(LABEL_ROWS).write_parquet(path),
        EXPOSURE: lambda path: frames.exposure.write_parquet(path),
        COUNTERPARTIES: lambda path: frames.counterparties.write_parquet(path),
        MONTHLY: lambda path: frames.monthly.write_parquet(path),
        HOLDINGS: lambda path: frames.holdings.write_parquet(path),
        ENTITIES: lambda path: entities.write_parquet(path),
        MANIFEST: lambda path: Path(path).write_text(json.dumps(manifest)),
    }
    publish_snapshot(scores, folder, name, manifest, attachments=attachments)


def _check_hand_figures(context: dict[str, object]) -> None:
    """The figures of the hand-built history (eth_assets_tests/fixtures.py), as the page gets
    them."""
    exposure = context["exposure"]
    assert set(exposure) == {
        "eth_received",
        "eth_sent",
        "token_transfers_received",
        "token_transfers_sent",
        "indirect_note",
        "label_sources",
        "sources_also_training_labels",
        "note",
    }
    received = exposure["eth_received"]
    assert set(received) == {"total", *SHARE_KEYS}
    assert received["total"] == pytest.approx(8.0)
    assert received["listed_share"] == pytest.approx(0.5)
    assert received["flagged_share"] == 0.0
    assert received["indirect_listed_share"] == pytest.approx(0.125)
    assert received["indirect_flagged_share"] == pytest.approx(0.1875)
    assert exposure["eth_sent"]["flagged_share"] == pytest.approx(1.0)
    assert exposure["eth_sent"]["indirect_listed_share"] == pytest.approx(1 / 6)
    tokens = exposure["token_transfers_received"]
    assert tokens["total"] == 5 and isinstance(tokens["total"], int)
    assert tokens["listed_share"] == pytest.approx(0.2)
    assert exposure["indirect_note"] == ""
    assert exposure["label_sources"] == ["list_a"]
    assert exposure["sources_also_training_labels"] == ["list_a"]
    by_value = context["counterparties"]["by_value"]
    assert [c["address"] for c in by_value] == [EXCHANGE, LISTED_1, FLAGGED, LISTED_2]
    exchange = by_value[0]
    assert exchange == {
        "address": EXCHANGE,
        "eth_in": 4.0,
        "eth_out": 0.0,
        "transactions_in": 2,
        "transactions_out": 0,
        "token_transfers_in": 4,
        "token_transfers_out": 0,
        "label_lists": [],
        "entity": ["exchange"],
        "band": None,
        "probability": None,
    }
    assert by_value[1]["label_lists"] == [
        {"source": "list_a", "category": "phishing", "name": "Fake wallet", "date": "2020-12-01"}
    ]
    by_count = [c["address"] for c in context["counterparties"]["by_count"]]
    assert by_count == [EXCHANGE, FLAGGED, LISTED_1, LISTED_2]
    activity = context["activity"]
    assert activity["first_seen"] == at(10).isoformat()  # LISTED_1's payment
    assert activity["monthly"] == [
        {
            "month": "2021-01",
            "transactions_in": 3,
            "transactions_out": 2,
            "eth_in": 7.0,
            "eth_out": 2.0,
            "token_transfers_in": 5,
            "token_transfers_out": 1,
        },
        {
            "month": "2021-02",
            "transactions_in": 1,
            "transactions_out": 0,
            "eth_in": 1.0,
            "eth_out": 0.0,
            "token_transfers_in": 0,
            "token_transfers_out": 0,
        },
    ]
    assert context["holdings"] == [
        {"token": TOKEN_W, "name": "Token W", "balance": 24.0, "units": "tokens"},
        {"token": TOKEN_U, "name": "Token U", "balance": str(HUGE), "units": "raw units"},
    ]


def test_a_snapshot_address_gets_its_context_from_the_attachments(
    lake: LakeFiles, tmp_path: Path
) -> None:
    frames = _pipeline_frames(lake, tmp_path)
    folder = tmp_path / "published"
    _publish(folder, "one", _scores({PAID: 0.2, FLAGGED: 0.8}), frames, "2021-03-02T00:00:00+00:00")
    snapshot = load_snapshot(folder)
    context = snapshot.context(PAID)
    assert context is not None and set(context) == KEYS
    _check_hand_figures(context)
    flagged = context["counterparties"]["by_value"][2]
    assert (flagged["band"], flagged["probability"]) == ("high", 0.8)
    assert context["score_history"] == [
        {
            "snapshot": "one.parquet",
            "published_at": "2021-03-02T00:00:00+00:00",
            "as_of": EXPOSURE_AS_OF.isoformat(),
            "model": "model one",
            "probability": 0.2,
            "band": "low",
        }
    ]
    assert snapshot.context(NOBODY) is None  # not in the snapshot, no on-the-fly scorer


def test_the_score_history_spans_the_kept_snapshots(lake: LakeFiles, tmp_path: Path) -> None:
    frames = _pipeline_frames(lake, tmp_path)
    folder = tmp_path / "published"
    _publish(folder, "b-first", _scores({PAID: 0.2}), frames, "2021-03-02T00:00:00+00:00")
    _publish(
        folder, "a-second", _scores({PAID: 0.7, FLAGGED: 0.9}), frames, "2021-03-09T00:00:00+00:00"
    )
    source = SnapshotSource(folder)
    snapshot = source.current()
    history = snapshot.context(PAID)["score_history"]
    # ordered by publication, not by file name
    assert [(h["snapshot"], h["probability"], h["band"]) for h in history] == [
        ("b-first.parquet", 0.2, "low"),
        ("a-second.parquet", 0.7, "high"),
    ]
    assert [h["model"] for h in history] == ["model b-first", "model a-second"]
    assert [h["snapshot"] for h in snapshot.context(FLAGGED)["score_history"]] == [
        "a-second.parquet"
    ]
    assert set(source._history) == {"b-first.parquet"}  # the older file, read once


def test_an_address_outside_the_snapshot_gets_the_same_context_on_the_fly(
    lake: LakeFiles,
) -> None:
    """The on-the-fly scorer computes the hand-built figures from the lake with the snapshot's
    listed and flagged addresses; Snapshot.context adds its on-the-fly score to the history."""
    rows = {FLAGGED: {"address": FLAGGED, "probability": 0.8, "band": "high", "is_flagged": True}}
    hits = label_hits_frame(LABEL_ROWS)
    scorer = OnTheFlyScorer(
        model=None,  # the context reads no model: scoring is faked by the cached row below
        profiles=None,
        cleaning=None,
        populations=None,
        lake=lake,
        as_of=EXPOSURE_AS_OF,
        excluded_tokens=(),
        label_hits=dict(zip(hits["address"], hits["label_hits"].to_list(), strict=True)),
        descriptions={},
        constants={},
        flagged=frozenset({FLAGGED}),
        entities=ENTITIES_MAP,
        scored_rows=rows,
        exposure_terms=_declaration(),
    )
    scorer._cache[PAID] = {"address": PAID, "probability": 0.3, "band": "medium"}
    current = PastScores(
        name="now.parquet",
        published_at="2021-03-02T00:00:00+00:00",
        as_of=None,
        model="m",
        when=datetime(2021, 3, 2, tzinfo=UTC),
        scores={},
    )
    snapshot = Snapshot(
        manifest={"file": "now.parquet"},
        rows=rows,
        on_the_fly=scorer,
        contexts=AddressContexts.empty(),
        current=current,
    )
    context = snapshot.context(PAID)
    assert context is not None and set(context) == KEYS
    _check_hand_figures(context)
    assert context["counterparties"]["by_value"][2]["band"] == "high"  # FLAGGED, scored
    assert context["score_history"] == [
        {
            "snapshot": "now.parquet",
            "published_at": "2021-03-02T00:00:00+00:00",
            "as_of": None,
            "model": "m",
            "probability": 0.3,
            "band": "medium",
        }
    ]
    assert snapshot.context(NOBODY) is None  # no history in the lake
    assert scorer._contexts[NOBODY] is None  # cached, like the scores


def test_a_snapshot_without_the_exposure_attachments_has_no_context(tmp_path: Path) -> None:
    publish_hand_made_scores(tmp_path, "one", "eth_assets.illicit_classifier v1")
    snapshot = load_snapshot(tmp_path)
    assert snapshot.contexts is None
    assert snapshot.context(next(iter(snapshot.rows))) is None
    # its scores still enter the history of a later snapshot, without a manifest beside them
    past = read_past_scores(tmp_path / "one.parquet")
    assert (past.model, past.published_at) == (None, None) and len(past.scores) == 3
