"""address_universe and address_features wired through Dagster, on hand-built data."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, materialize

from eth_assets.features.as_of import default_as_of, parse_as_of
from eth_assets.features.feature_assets import address_features, address_universe
from eth_assets.labels.label_assets import illicit_labels
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets_tests.fixtures import ALICE, BOB, CONTRACT

ASSETS = [raw_transactions, raw_token_transfers, illicit_labels, address_universe, address_features]


def _labels_file(tmp_path: Path) -> str:
    path = tmp_path / "darklist.json"
    path.write_text(json.dumps([{"address": BOB, "comment": "Phishing", "date": "2020-01-01"}]))
    return str(path)


def _run(tmp_path: Path, resources: dict[str, object], universe: dict, features: dict):
    return materialize(
        ASSETS,
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2020-01-01",
            "dagster/asset_partition_range_end": "2020-01-03",
        },
        run_config={
            "ops": {
                "illicit_labels": {"config": {"files": [_labels_file(tmp_path)]}},
                "address_universe": {"config": universe},
                "address_features": {"config": features},
            }
        },
    )


def test_sampled_universe_and_default_as_of(tmp_path: Path, resources: dict[str, object]) -> None:
    result = _run(tmp_path, resources, {"sample_size": 10, "min_transactions": 1}, {})
    assert result.success
    meta = result.asset_materializations_for_node("address_features")[0].metadata
    assert meta["as_of"].value == "2020-01-04T00:00:00+00:00"  # end of the last partition
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    universe = con.execute(
        "SELECT address, inclusion_reason, is_labelled_illicit FROM address_universe"
    ).fetchall()
    assert universe == [
        (ALICE, "sampled", False),
        (BOB, "labelled", True),
        (CONTRACT, "sampled", False),
    ]
    sent = con.execute("SELECT address, sent_tnx FROM address_features ORDER BY 1").fetchall()
    assert sent == [(ALICE, 2), (BOB, 2), (CONTRACT, 0)]


def test_explicit_address_file_and_as_of_given_once(
    tmp_path: Path, resources: dict[str, object]
) -> None:
    """The cutoff is configured on address_universe alone; address_features reads the one the
    universe recorded (a typed column), for an address file as for a sample."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(f"address,keep\n{ALICE.upper().replace('0X', '0x')},true\n{BOB},false\n")
    universe = {"address_file": str(accounts), "flag_column": "keep", "as_of": "2020-01-02"}
    result = _run(tmp_path, resources, universe, {})
    assert result.success
    meta = result.asset_materializations_for_node("address_features")[0].metadata
    assert meta["as_of"].value == "2020-01-02T00:00:00+00:00"
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    rows = con.execute("SELECT address, sent_tnx, received_tnx FROM address_features").fetchall()
    assert rows == [(ALICE, 2, 0)]  # Bob's reply on 2020-01-03 is after as_of
    recorded = con.execute("SELECT as_of FROM address_universe_provenance").fetchall()[0][0]
    assert recorded == parse_as_of("2020-01-02")


def test_features_given_their_own_as_of_follow_the_universe_at_that_cutoff(
    tmp_path: Path, resources: dict[str, object]
) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(f"address\n{ALICE}\n")
    universe = {"address_file": str(accounts), "as_of": "2020-01-02"}
    assert _run(tmp_path, resources, universe, {"as_of": "2020-01-04"}).success
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    rows = con.execute("SELECT address, sent_tnx, received_tnx FROM address_features").fetchall()
    assert rows == [(ALICE, 2, 1)]  # Bob's reply on 2020-01-03 is before the features' as_of


def test_address_file_setting_is_read_at_run_time(
    tmp_path: Path, resources: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(f"address\n{ALICE}\n")
    monkeypatch.setenv("ETH_ASSETS_ADDRESS_FILE", str(accounts))
    assert _run(tmp_path, resources, {}, {"as_of": "2020-01-02"}).success
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT address FROM address_universe").fetchall() == [(ALICE,)]


def test_bad_address_file_names_the_bad_value(tmp_path: Path, resources: dict[str, object]) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("address\n0x12345\n")
    with pytest.raises(Exception, match="0x12345"):
        _run(tmp_path, resources, {"address_file": str(accounts)}, {})


def test_as_of_parsing() -> None:
    assert parse_as_of("2019-04-25").isoformat() == "2019-04-25T00:00:00+00:00"
    with pytest.raises(ValueError, match="not an ISO date"):
        parse_as_of("yesterday")
    with pytest.raises(ValueError, match="materialize a range first"):
        default_as_of(None)


def test_features_before_the_universe_fail_naming_it(
    tmp_path: Path, resources: dict[str, object]
) -> None:
    """address_features alone on a fresh warehouse: a clear error, not a Python object picked up
    by DuckDB's replacement scan, and no address_features table."""
    result = materialize(
        [address_features],
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        run_config={"ops": {"address_features": {"config": {"as_of": "2020-01-05"}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("address_features")
    assert failure is not None and failure.error is not None
    message = failure.error.cause.message if failure.error.cause else failure.error.message
    assert "no address_universe table: materialize address_universe first" in message
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert "address_features" not in tables
