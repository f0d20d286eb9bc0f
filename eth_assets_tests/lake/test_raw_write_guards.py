"""The raw assets refuse a partial day and a second source's new days, without retrying, and the
opt-in for a smaller day is logged day by day: on the hand-built Parquet folder."""

from __future__ import annotations

from pathlib import Path

import duckdb
from dagster import DagsterInstance, materialize

from eth_assets.chain.schemas import TRANSACTIONS
from eth_assets.lake.compaction import table_relation_sql
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets_tests.fixtures import resource_set, write_bigquery_schema_folder


def _range(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


def _run(assets, resources, first: str, last: str, config=None, instance=None):
    return materialize(
        assets,
        resources=resources,
        instance=instance or DagsterInstance.ephemeral(),
        tags=_range(first, last),
        run_config={"ops": {"raw_transactions": {"config": config}} if config else {}},
        raise_on_error=False,
    )


def _failure(result) -> str:
    return "\n".join(str(e.event_specific_data.error) for e in result.get_step_failure_events())


def _lake_rows(folder: Path) -> int:
    relation = table_relation_sql(folder / "lake", TRANSACTIONS)
    return duckdb.sql(f"SELECT count(*) FROM ({relation})").fetchall()[0][0]


def _drop_transaction(folder: Path, tx_hash: str) -> None:
    path = folder / "transactions.parquet"
    kept = folder / "kept.parquet"
    duckdb.sql(f"COPY (SELECT * FROM '{path}' WHERE hash <> '{tx_hash}') TO '{kept}'")
    kept.replace(path)


def test_a_partial_day_fails_the_run_and_the_opt_in_logs_it(tmp_path: Path) -> None:
    resources = resource_set(tmp_path)
    assert _run([raw_transactions], resources, "2020-01-01", "2020-01-03").success
    _drop_transaction(tmp_path / "source", "0x02")  # half of 2020-01-01
    refused = _run([raw_transactions], resources, "2020-01-01", "2020-01-03")
    assert not refused.success
    assert "2020-01-01 from 2 to 1 rows (−50.0%)" in _failure(refused)
    assert not [e for e in refused.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert _lake_rows(tmp_path) == 4
    instance = DagsterInstance.ephemeral()
    allowed = _run(
        [raw_transactions],
        resources,
        "2020-01-01",
        "2020-01-03",
        {"allow_shrinking_days": True},
        instance,
    )
    assert allowed.success
    assert _lake_rows(tmp_path) == 3
    warnings = [e.user_message for e in instance.all_logs(allowed.run_id)]
    assert any("2020-01-01 from 2 to 1 rows" in m for m in warnings), warnings
    metadata = allowed.asset_materializations_for_node("raw_transactions")[0].metadata
    assert metadata["run_days_shrunk"].value == 1


def test_a_second_source_adding_days_fails_naming_both(tmp_path: Path) -> None:
    resources = resource_set(tmp_path)
    assert _run([raw_transactions], resources, "2020-01-01", "2020-01-01").success
    other = write_bigquery_schema_folder(tmp_path / "other")
    switched = {**resources, "chain_source": ParquetChainSource(folder=str(other))}
    refused = _run([raw_transactions, raw_token_transfers], switched, "2020-01-02", "2020-01-03")
    assert not refused.success
    message = _failure(refused)
    assert f"this run's source is parquet:{other}" in message
    assert f"of transactions written by parquet:{tmp_path / 'source'}" in message
    assert "separate data dir" in message
    assert _lake_rows(tmp_path) == 2
    assert not (tmp_path / "lake" / "token_transfers").exists()
