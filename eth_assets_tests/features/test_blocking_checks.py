"""A blocking check's failure lasts beyond its run: the table it refused never replaces the
warehouse's, so a later run of what is downstream (alone) reads the previous good table, or
refuses when there is none; on hand-built data."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance, materialize

import eth_assets.models.dataset_results as datasets_module
from eth_assets.common.duckdb_utils import publish_staged, staging_catalog
from eth_assets.features.feature_assets import address_features, address_universe
from eth_assets.features.feature_run import staging_file
from eth_assets.labels.label_assets import illicit_labels
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets.models.dataset_assets import clean_features
from eth_assets_tests.fixtures import ALICE, BOB, resource_set

RAW = [raw_transactions, raw_token_transfers]
FEATURES = [illicit_labels, address_universe, address_features]


def _run(assets, resources, ops=None, tags=None):
    return materialize(
        assets,
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        tags=tags or {},
        run_config={"ops": ops or {}},
        raise_on_error=False,
    )


def _failure(result) -> str:
    return "\n".join(str(e.event_specific_data.error) for e in result.get_step_failure_events())


def _check(result, name: str):
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def _config(folder: Path, as_of: str = "") -> dict:
    labels = folder / "darklist.json"
    labels.write_text(json.dumps([{"address": BOB, "comment": "Phishing", "date": "2020-01-01"}]))
    accounts = folder / "accounts.csv"
    accounts.write_text(f"address\n{ALICE}\n{BOB}\n")
    return {
        "illicit_labels": {"config": {"files": [str(labels)]}},
        "address_universe": {"config": {"address_file": str(accounts)}},
        "address_features": {"config": {"as_of": as_of}},
    }


def _graph(folder: Path, resources: dict, as_of: str = ""):
    """Raw days 2020-01-01…03, labels, universe and features (as of `as_of`)."""
    return _run(
        [*RAW, *FEATURES],
        resources,
        _config(folder, as_of),
        {
            "dagster/asset_partition_range_start": "2020-01-01",
            "dagster/asset_partition_range_end": "2020-01-03",
        },
    )


def _table(folder: Path, name: str) -> pl.DataFrame:
    with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(f"SELECT * FROM {name} ORDER BY ALL").pl()


def _provenance(folder: Path) -> dict[str, object]:
    return _table(folder, "feature_provenance").row(0, named=True)


ALL_ZERO = "2020-01-01"  # the first day's midnight: no transaction before the cut-off


def test_an_all_zero_feature_run_keeps_the_good_tables_and_clean_features_reads_them(
    tmp_path: Path,
) -> None:
    resources = resource_set(tmp_path)
    assert _graph(tmp_path, resources).success
    good = {name: _table(tmp_path, name) for name in ("address_features", "behaviour_features")}
    good_as_of = _provenance(tmp_path)["as_of"]
    assert _provenance(tmp_path)["usability_check"] == "passed"
    assert good["address_features"]["total_transactions"].sum() > 0

    refused = _run(
        [address_features],
        resources,
        {"address_features": _config(tmp_path, ALL_ZERO)["address_features"]},
    )
    usable = _check(refused, "address_features_usable")
    assert usable.passed is False and "zero transactions" in usable.description
    assert usable.metadata["stored"].value is False
    for name, table in good.items():
        assert _table(tmp_path, name).equals(table), name
    assert _provenance(tmp_path)["as_of"] == good_as_of
    # the refused tables are kept beside the warehouse, to look at
    staged = staging_file(tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(staged), read_only=True) as con:
        assert con.sql("SELECT sum(total_transactions) FROM address_features").fetchall() == [(0,)]
        outcome = con.execute("SELECT usability_check FROM feature_provenance").fetchall()
    assert outcome[0][0].startswith("failed: all 2 addresses have zero transactions")

    # `--select clean_features` alone: it reads the previous good features
    cleaned = _run([clean_features], resources)
    assert cleaned.success, _failure(cleaned)
    metadata = cleaned.asset_materializations_for_node("clean_features")[0].metadata
    assert metadata["as_of"].value == good_as_of.isoformat()
    assert metadata["without_activity"].value == 0
    assert _table(tmp_path, "clean_features").height == 2


def test_a_first_feature_run_that_fails_leaves_nothing_to_clean(tmp_path: Path) -> None:
    resources = resource_set(tmp_path)
    result = _graph(tmp_path, resources, ALL_ZERO)
    assert _check(result, "address_features_usable").passed is False
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "address_features" not in tables and "feature_provenance" not in tables
    cleaned = _run([clean_features], resources)
    assert not cleaned.success
    assert "materialize address_features first" in _failure(cleaned)


@pytest.mark.parametrize("outcome", [None, "failed: all 2 addresses have zero transactions"])
def test_clean_features_refuses_features_without_a_passed_check(
    tmp_path: Path, outcome: str | None
) -> None:
    """A table an older version stored (no outcome recorded), or one recorded as failed."""
    resources = resource_set(tmp_path)
    assert _graph(tmp_path, resources).success
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("UPDATE feature_provenance SET usability_check = ?", [outcome])
    cleaned = _run([clean_features], resources)
    assert not cleaned.success
    message = _failure(cleaned)
    assert "clean_features refuses the stored features" in message
    assert "materialize address_features again" in message
    if outcome:
        assert outcome in message


def test_a_failed_clean_features_check_keeps_the_previous_table_and_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = resource_set(tmp_path)
    assert _graph(tmp_path, resources).success
    assert _run([clean_features], resources).success
    before = _table(tmp_path, "clean_features"), _table(tmp_path, "clean_features_fit")
    cleaning = tmp_path / "models" / "clean_features" / "cleaning.json"
    saved = cleaning.read_bytes()
    monkeypatch.setattr(datasets_module, "unusable_cells", lambda frame, cleaning: 3)
    failed = _run([clean_features], resources)
    complete = _check(failed, "clean_features_complete")
    assert complete.passed is False and complete.metadata["stored"].value is False
    assert _table(tmp_path, "clean_features").equals(before[0])
    assert _table(tmp_path, "clean_features_fit").equals(before[1])
    assert cleaning.read_bytes() == saved


def test_a_publish_failing_half_way_changes_no_table(tmp_path: Path) -> None:
    """The swap is one transaction: a failure on its second table leaves the first as it was."""
    con = duckdb.connect(str(tmp_path / "home.duckdb"))
    con.execute("CREATE TABLE a AS SELECT 'old' AS v")
    con.execute("CREATE VIEW b AS SELECT 'a view' AS v")  # cannot be replaced by a table
    with staging_catalog(con, tmp_path / "staging.duckdb", "staging") as home:
        con.execute("CREATE TABLE a AS SELECT 'new' AS v")
        con.execute("CREATE TABLE b AS SELECT 'new' AS v")
        with pytest.raises(duckdb.Error):
            publish_staged(con, "staging", home, ["a", "b"])
    assert con.sql("SELECT v FROM a").fetchall() == [("old",)]
    with staging_catalog(con, tmp_path / "staging.duckdb", "staging") as home:
        con.execute("CREATE TABLE a AS SELECT 'new' AS v")
        assert publish_staged(con, "staging", home, ["a", "c"]) == ["a"]
    assert con.sql("SELECT v FROM a").fetchall() == [("new",)]
