"""The snapshot contract: the producer's frame is the schema, and a snapshot missing or
mistyping a column is refused naming it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from eth_assets.scores.scoring import scored_frame
from eth_assets.scores.snapshot import (
    SCORE_SCHEMA,
    SCORED_COLUMNS,
    SnapshotSchemaError,
    check_published_frame,
    publish_snapshot,
)
from eth_assets.serve.snapshot_loader import SnapshotUnreadable, read_published

ADDRESSES = ["0x" + "ab" * 20, "0x" + "cd" * 20]


def _scored() -> pl.DataFrame:
    """Two scored rows as the scorer builds them: one flagged with a reason, one without."""
    return scored_frame(
        {
            "address": ADDRESSES,
            "has_activity": np.array([True, False]),
            "probability": pl.Series([0.9, None], dtype=pl.Float64),
            "probability_low": pl.Series([0.8, None], dtype=pl.Float64),
            "probability_high": pl.Series([0.95, None], dtype=pl.Float64),
            "raw_probability": pl.Series([0.7, None], dtype=pl.Float64),
            "is_flagged": np.array([True, False]),
            "band": np.array(["critical", "no activity"]).astype(str),
            "illicit_type": pl.Series(["phishing", None], dtype=pl.Utf8),
            "illicit_type_probability": pl.Series([0.6, None], dtype=pl.Float64),
            "threshold": np.full(2, 0.5),
            "reasons": pl.Series([["raises"], []], dtype=pl.List(pl.Utf8)),
            "reason_features": pl.Series([["f"], []], dtype=pl.List(pl.Utf8)),
            "reason_details": pl.Series([[], []], dtype=SCORE_SCHEMA["reason_details"]),
        }
    )


def _published() -> pl.DataFrame:
    """The scored rows with the columns address_scores joins on."""
    return _scored().with_columns(
        profile_id=pl.Series([2, 0], dtype=pl.Int32),
        profile_name=pl.lit("busy hubs"),
        profile_sets_apart=pl.lit("more counterparties"),
        profile_values=pl.lit("{}"),
        label_hits=pl.lit(None, dtype=SCORE_SCHEMA["label_hits"]),
        is_labelled_illicit=pl.lit(False),
        model=pl.lit("eth_assets.illicit_classifier v1"),
        model_as_of=pl.lit("2021-06-30T00:00:00+00:00"),
        model_chain_source=pl.lit("simulated:seed=7"),
        as_of=pl.lit("2021-06-30T00:00:00+00:00"),
        chain_source=pl.lit("simulated:seed=7"),
        scored_at=pl.lit(datetime(2021, 7, 1, tzinfo=UTC)),
    )


def test_the_scorers_frame_has_the_schemas_scored_columns_and_dtypes() -> None:
    scored = _scored()
    assert scored.columns == list(SCORED_COLUMNS)
    assert scored.schema == {name: SCORE_SCHEMA[name] for name in SCORED_COLUMNS}


def test_the_published_frame_equals_the_schema() -> None:
    checked = check_published_frame(_published().reverse().select(reversed(SCORE_SCHEMA)))
    assert dict(checked.schema) == SCORE_SCHEMA
    assert checked["address"].to_list() == ADDRESSES[::-1]


def test_the_producer_refuses_a_missing_or_mistyped_column() -> None:
    broken = _published().drop("band").with_columns(pl.col("threshold").cast(pl.Utf8))
    with pytest.raises(SnapshotSchemaError) as error:
        check_published_frame(broken)
    assert "band is missing" in str(error.value)
    assert "threshold is String, not Float64" in str(error.value)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda f: f.drop("is_flagged"), "is_flagged is missing"),
        (lambda f: f.with_columns(pl.col("probability").cast(pl.Utf8)), "probability is String"),
    ],
)
def test_a_snapshot_missing_or_mistyping_a_column_is_refused_with_its_name(
    tmp_path: Path, change, named: str
) -> None:
    publish_snapshot(change(_published()), tmp_path, "s1", {"model": "m"})
    with pytest.raises(SnapshotUnreadable, match=named):
        read_published(tmp_path)


def test_an_older_snapshot_without_optional_columns_is_served(tmp_path: Path) -> None:
    publish_snapshot(_published().drop("scored_at", "raw_probability"), tmp_path, "s1", {})
    frame, manifest = read_published(tmp_path)
    assert frame.height == 2 and manifest["file"] == "s1.parquet"
