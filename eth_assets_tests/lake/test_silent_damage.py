"""Each way the graph used to damage data silently is now a clear error (or an explicit, logged
opt-in), and the lake, the label set and the warehouse stay as they were: on hand-built data."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize

from eth_assets.chain.retries import SOURCE_RETRY_POLICY
from eth_assets.chain.schemas import TRANSACTIONS
from eth_assets.features.feature_assets import address_features, address_universe
from eth_assets.labels.label_assets import illicit_labels
from eth_assets.lake.compaction import table_relation_sql
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets.models.dataset_assets import clean_features
from eth_assets.orchestration.asset_checks import raw_data_quality
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets.resources.simulated_source import SimulatedChainSource
from eth_assets_tests.fixtures import ALICE, BOB, resource_set, write_bigquery_schema_folder

RAW = [raw_transactions, raw_token_transfers]
FEATURES = [illicit_labels, address_universe, address_features]


def _range(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


def _labels(folder: Path, entries: list[dict]) -> str:
    path = folder / "darklist.json"
    path.write_text(json.dumps(entries))
    return str(path)


def _good_labels(folder: Path) -> str:
    return _labels(folder, [{"address": BOB, "comment": "Phishing", "date": "2020-01-01"}])


def _run(assets, resources, tags=None, ops=None, instance=None):
    return materialize(
        assets,
        resources=resources,
        instance=instance or DagsterInstance.ephemeral(),
        tags=tags or {},
        run_config={"ops": ops or {}},
        raise_on_error=False,
    )


def _failure(result) -> str:
    """The text of every step failure of a run."""
    return "\n".join(
        str(event.event_specific_data.error) for event in result.get_step_failure_events()
    )


def _lake_rows(folder: Path) -> list[tuple]:
    relation = table_relation_sql(folder / "lake", TRANSACTIONS)
    return duckdb.sql(f"SELECT * FROM ({relation}) ORDER BY ALL").fetchall()


def _whole_graph(folder: Path, resources: dict) -> None:
    result = _run(
        RAW + FEATURES,
        resources,
        _range("2020-01-01", "2020-01-03"),
        {"illicit_labels": {"config": {"files": [_good_labels(folder)]}}},
    )
    assert result.success, _failure(result)


def test_another_source_against_the_same_data_dir_fails_and_keeps_the_lake(
    tmp_path: Path,
) -> None:
    resources = resource_set(tmp_path)
    _whole_graph(tmp_path, resources)
    before = _lake_rows(tmp_path)
    other = write_bigquery_schema_folder(tmp_path / "another")
    switched = {**resources, "chain_source": ParquetChainSource(folder=str(other))}
    result = _run(RAW, switched, _range("2020-01-01", "2020-01-03"))
    assert not result.success
    message = _failure(result)
    assert f"parquet:{tmp_path / 'source'}" in message and f"parquet:{other}" in message
    assert "replace_other_source" in message
    assert _lake_rows(tmp_path) == before
    # Replacing one day on purpose leaves a mixed lake, which the next step refuses.
    replaced = _run(
        [raw_transactions],
        switched,
        _range("2020-01-02", "2020-01-02"),
        {"raw_transactions": {"config": {"replace_other_source": True}}},
    )
    assert replaced.success, _failure(replaced)
    mixed = _run(FEATURES[1:], switched)
    assert not mixed.success
    assert f"raw_transactions holds 2 days, 2020-01-01…2020-01-03 from parquet:{tmp_path}" in (
        _failure(mixed)
    )


def test_leftover_labels_of_another_source_stop_the_universe(tmp_path: Path) -> None:
    resources = resource_set(tmp_path)
    _whole_graph(tmp_path, resources)
    simulated = SimulatedChainSource(work_dir=str(tmp_path / "sim"))
    lake_path = tmp_path / "lake" / "illicit_labels.parquet"
    table = pq.read_table(lake_path)
    pq.write_table(
        table.replace_schema_metadata({"eth_assets_source": simulated.describe()}), lake_path
    )
    result = _run([address_universe], resources)
    assert not result.success
    assert f"illicit_labels comes from {simulated.describe()}" in _failure(result)


def test_an_all_invalid_label_file_fails_and_keeps_the_labels(tmp_path: Path) -> None:
    resources = resource_set(tmp_path)
    _whole_graph(tmp_path, resources)
    (tmp_path / "junk").mkdir()
    junk = _labels(tmp_path / "junk", [{"address": "0x12345", "comment": "x"}] * 3)
    result = _run(
        [illicit_labels, address_universe],
        resources,
        ops={"illicit_labels": {"config": {"files": [junk]}}},
    )
    assert not result.success
    assert "no valid label among 3 entries read" in _failure(result)
    assert "The stored labels were kept" in _failure(result)
    kept = pl.read_parquet(tmp_path / "lake" / "illicit_labels.parquet")
    assert kept["address"].to_list() == [BOB]
    assert not result.asset_materializations_for_node("address_universe")


def test_a_much_smaller_label_set_needs_an_override(tmp_path: Path) -> None:
    resources = resource_set(tmp_path)
    many = _labels(
        tmp_path, [{"address": "0x" + f"{i:040x}", "comment": "x"} for i in range(1, 11)]
    )
    assert _run(
        [illicit_labels], resources, ops={"illicit_labels": {"config": {"files": [many]}}}
    ).success
    (tmp_path / "few").mkdir()
    few = _labels(tmp_path / "few", [{"address": BOB, "comment": "x"}])
    refused = _run(
        [illicit_labels], resources, ops={"illicit_labels": {"config": {"files": [few]}}}
    )
    assert not refused.success
    assert "1 labelled addresses against 10 in the stored set" in _failure(refused)
    allowed = _run(
        [illicit_labels],
        resources,
        ops={"illicit_labels": {"config": {"files": [few], "allow_fewer_labels": True}}},
    )
    assert allowed.success


def test_a_range_without_data_blocks_the_models(tmp_path: Path) -> None:
    """Features as of the first day's midnight: no transaction before the cut-off."""
    resources = resource_set(tmp_path)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(f"address\n{ALICE}\n{BOB}\n")
    result = _run(
        [*RAW, *FEATURES, clean_features],
        resources,
        _range("2020-01-01", "2020-01-03"),
        {
            "illicit_labels": {"config": {"files": [_good_labels(tmp_path)]}},
            "address_universe": {"config": {"address_file": str(accounts)}},
            "address_features": {"config": {"as_of": "2020-01-01"}},
        },
    )
    assert not result.success
    usable = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "address_features_usable"
    ]
    assert [e.passed for e in usable] == [False]
    assert "zero transactions and token transfers" in usable[0].description
    assert not result.asset_materializations_for_node("clean_features")


def test_default_as_of_comes_from_the_lake_not_the_run_record(tmp_path: Path) -> None:
    """Raw days written under one instance, features under a fresh one that has no record of
    them (as after a run killed while Dagster recorded its events): the lake decides."""
    resources = resource_set(tmp_path)
    written = _run(RAW, resources, _range("2020-01-01", "2020-01-03"))
    assert written.success
    fresh = _run(
        FEATURES,
        resources,
        ops={"illicit_labels": {"config": {"files": [_good_labels(tmp_path)]}}},
        instance=DagsterInstance.ephemeral(),
    )
    assert fresh.success, _failure(fresh)
    metadata = fresh.asset_materializations_for_node("address_features")[0].metadata
    assert metadata["as_of"].value == "2020-01-04T00:00:00+00:00"


def test_missing_receipt_columns_warn_in_the_log_and_a_check(tmp_path: Path) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "source")
    path = folder / "transactions.parquet"
    pq.write_table(pq.read_table(path).drop(["receipt_gas_used"]), path)
    resources = resource_set(tmp_path, ParquetChainSource(folder=str(folder)))
    instance = DagsterInstance.ephemeral()
    result = _run(
        [*RAW, raw_data_quality], resources, _range("2020-01-01", "2020-01-03"), instance=instance
    )
    assert result.success
    warnings = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level == logging.WARNING
    ]
    assert any("has no receipt_gas_used column" in w for w in warnings), warnings
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    receipts = checks["raw_transactions_have_receipts"]
    assert receipts.passed is False and receipts.severity.value == "WARN"
    assert receipts.metadata["rows_without_receipt_gas_used"].value == 4


def test_a_reversed_range_fails_saying_so(tmp_path: Path) -> None:
    result = _run([raw_transactions], resource_set(tmp_path), _range("2020-01-03", "2020-01-01"))
    assert not result.success
    assert "partition range 2020-01-03...2020-01-01 is reversed" in _failure(result)
    # Not a transient source error: no retry, although the raw assets have a retry policy.
    assert raw_transactions.op.retry_policy == SOURCE_RETRY_POLICY
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


def test_days_outside_the_source_fail_naming_its_range(tmp_path: Path) -> None:
    source = SimulatedChainSource(
        n_accounts=300, start_date="2021-01-01", days=20, work_dir=str(tmp_path / "sim")
    )
    result = _run(
        [raw_transactions], resource_set(tmp_path, source), _range("2020-01-01", "2020-01-03")
    )
    assert not result.success
    assert "outside the days the source" in _failure(result)
    assert "2021-01-01...2021-01-20" in _failure(result)
    shutil.rmtree(tmp_path / "sim", ignore_errors=True)


def test_a_day_with_zero_rows_is_recorded_as_empty(tmp_path: Path) -> None:
    """Days after the source's last transaction: the run succeeds and says 0 rows for them."""
    result = _run(RAW, resource_set(tmp_path), _range("2020-01-01", "2020-01-05"))
    assert result.success
    rows = {
        event.partition: event.metadata["dagster/row_count"].value
        for event in result.asset_materializations_for_node("raw_transactions")
    }
    assert rows == {
        "2020-01-01": 2,
        "2020-01-02": 1,
        "2020-01-03": 1,
        "2020-01-04": 0,
        "2020-01-05": 0,
    }


def test_a_label_csv_with_junk_lines_keeps_the_good_rows_and_reports_the_junk(
    tmp_path: Path,
) -> None:
    path = tmp_path / "list.csv"
    path.write_text(f"address,category\n{BOB},phish\nnot an address,x\n\n{ALICE},scam\n;;;,junk\n")
    resources = resource_set(tmp_path)
    result = _run(
        [illicit_labels], resources, ops={"illicit_labels": {"config": {"files": [str(path)]}}}
    )
    assert result.success
    labels = pl.read_parquet(tmp_path / "lake" / "illicit_labels.parquet")
    assert sorted(labels["address"]) == sorted([ALICE, BOB])
    rejected = pl.read_parquet(tmp_path / "lake" / "illicit_labels_rejected.parquet")
    assert sorted(rejected["value"].to_list()) == [";;;", "not an address"]
    assert {"line 3", "line 6"} <= {entry.split(" —")[0] for entry in rejected["entry"]}


def test_feature_drift_is_a_warning_with_the_psi_table(tmp_path: Path) -> None:
    resources = resource_set(tmp_path)
    _whole_graph(tmp_path, resources)  # as of the end of 2020-01-03
    earlier = _run(
        [address_features], resources, ops={"address_features": {"config": {"as_of": "2020-01-02"}}}
    )
    assert earlier.success
    drift = [e for e in earlier.get_asset_check_evaluations() if e.check_name.endswith("drift")]
    assert len(drift) == 1 and drift[0].severity.value == "WARN"
    assert "| feature | psi |" in drift[0].metadata["psi"].value
    assert drift[0].metadata["compared_with"].value == "the previous address_features"


def test_allowed_deletions_are_logged_day_by_day(tmp_path: Path) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "source")
    resources = resource_set(tmp_path, ParquetChainSource(folder=str(folder)))
    assert _run([raw_transactions], resources, _range("2020-01-01", "2020-01-03")).success
    path = folder / "transactions.parquet"
    duckdb.sql(
        f"COPY (SELECT * FROM '{path}' WHERE hash <> '0x03') TO '{tmp_path / 'fewer.parquet'}'"
    )
    (tmp_path / "fewer.parquet").replace(path)
    instance = DagsterInstance.ephemeral()
    result = _run(
        [raw_transactions],
        resources,
        _range("2020-01-01", "2020-01-03"),
        {"raw_transactions": {"config": {"allow_deleting_days": True}}},
        instance=instance,
    )
    assert result.success
    infos = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.INFO]
    assert any("deleted 1 day(s)" in m and "2020-01-02" in m for m in infos), infos


def test_days_outside_a_parquet_folder_fail_naming_its_days(tmp_path: Path) -> None:
    result = _run([raw_transactions], resource_set(tmp_path), _range("2020-02-01", "2020-02-03"))
    assert not result.success
    assert "2020-02-01...2020-02-03 are outside the days the source" in _failure(result)
    assert "2020-01-01...2020-01-03" in _failure(result)


def test_a_failure_after_the_swap_says_the_days_were_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import eth_assets.lake.raw_assets as raw_module

    def broken(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(raw_module, "_record_day_metadata", broken)
    result = _run([raw_transactions], resource_set(tmp_path), _range("2020-01-01", "2020-01-03"))
    assert not result.success
    message = _failure(result)
    assert "4 rows of 3 days in [2020-01-01, 2020-01-04) WERE written to the lake" in message
    assert "materialize the same range again" in message
    assert len(_lake_rows(tmp_path)) == 4
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
