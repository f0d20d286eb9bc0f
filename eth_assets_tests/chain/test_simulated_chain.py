"""The simulated chain: determinism, canonical schema, chain invariants, archetype behaviour,
labels, and staging through the Parquet lake."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS, RawTable
from eth_assets.chain.sim import (
    SimConfig,
    accounts_table,
    activity,
    clear_caches,
    darklist_entries,
    generate_day,
    generate_days,
    write_accounts,
    write_darklist,
)
from eth_assets.chain.sim import archetypes as A
from eth_assets.chain.sim.population import build_population
from eth_assets.common.addresses import address_problem
from eth_assets.features.universe import read_address_file
from eth_assets.labels.label_files import read_label_files
from eth_assets.lake.partition_writes import replace_window, table_files
from eth_assets.lake.raw_assets import raw_token_transfers, raw_transactions
from eth_assets.resources.simulated_source import SimulatedChainSource

SMALL = SimConfig(seed=3, n_accounts=400, days=30)
ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
HASH = re.compile(r"^0x[0-9a-f]{64}$")


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


@pytest.fixture(scope="module")
def chain() -> dict[str, pa.Table]:
    """All days of the small chain, concatenated."""
    days = list(generate_days(SMALL, 0, SMALL.days))
    return {name: pa.concat_tables([d[name] for d in days]) for name in days[0]}


@pytest.fixture(scope="module")
def con(chain: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    """DuckDB with the small chain as `transactions`, `token_transfers` and `accounts`."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for name, table in chain.items():
        connection.register(name, table)
    connection.register("accounts", accounts_table(SMALL))
    return connection


def test_same_seed_gives_identical_bytes_and_another_seed_differs() -> None:
    first = {k: _parquet_bytes(v) for k, v in generate_day(SMALL, 7).items()}
    clear_caches()
    again = {k: _parquet_bytes(v) for k, v in generate_day(SMALL, 7).items()}
    other = generate_day(SimConfig(seed=4, n_accounts=400, days=30), 7)
    assert first == again
    assert first["transactions"] != _parquet_bytes(other["transactions"])


def test_a_day_alone_equals_the_same_day_inside_a_range() -> None:
    clear_caches()
    alone = generate_day(SMALL, 12)
    clear_caches()
    in_range = list(generate_days(SMALL, 5, 15))[12 - 5]
    for name in alone:
        assert alone[name].equals(in_range[name]), name


def _duckdb_types(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]


@pytest.mark.parametrize("raw", [TRANSACTIONS, TOKEN_TRANSFERS], ids=lambda t: t.name)
def test_schema_is_the_canonical_one(raw: RawTable) -> None:
    con = duckdb.connect()
    columns = ", ".join(f'"{name}" {sql}' for name, sql in raw.columns)
    con.execute(f"CREATE TABLE canonical ({columns})")
    con.register("simulated", generate_day(SMALL, 3)[raw.name])
    assert _duckdb_types(con, "simulated") == _duckdb_types(con, "canonical")


def test_identifiers_are_well_formed_and_unique(chain: dict[str, pa.Table]) -> None:
    tx, tt = chain["transactions"], chain["token_transfers"]
    for column in ("from_address", "to_address", "receipt_contract_address"):
        assert all(ADDRESS.match(a) for a in tx[column].drop_null().to_pylist()), column
    for column in ("token_address", "from_address", "to_address"):
        assert all(ADDRESS.match(a) for a in tt[column].to_pylist()), column
    assert all(HASH.match(h) for h in tx["hash"].to_pylist() + tx["block_hash"].to_pylist())
    assert pc.count_distinct(tx["hash"]).as_py() == tx.num_rows
    assert set(tt["transaction_hash"].to_pylist()) <= set(tx["hash"].to_pylist())


def test_blocks_are_consistent(con: duckdb.DuckDBPyConnection) -> None:
    per_block = con.execute(
        "SELECT count(DISTINCT block_hash), count(DISTINCT block_timestamp), "
        "count(*) - count(DISTINCT transaction_index) FROM transactions GROUP BY block_number"
    ).fetchall()
    assert all(row == (1, 1, 0) for row in per_block)


def test_contract_creations_have_null_to_and_a_contract(chain: dict[str, pa.Table]) -> None:
    tx = chain["transactions"]
    creations = pc.is_null(tx["to_address"])
    assert pc.sum(creations).as_py() > 0
    assert pc.all(pc.equal(creations, pc.is_valid(tx["receipt_contract_address"]))).as_py()


def test_failed_transactions_pay_gas_and_emit_no_logs(con: duckdb.DuckDBPyConnection) -> None:
    failed, bad_gas, with_logs = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE receipt_gas_used <= 0 OR gas_price <= 0), "
        "count(*) FILTER (WHERE hash IN (SELECT transaction_hash FROM token_transfers)) "
        "FROM transactions WHERE receipt_status = 0"
    ).fetchall()[0]
    assert failed > 0 and bad_gas == 0 and with_logs == 0
    statuses = con.execute("SELECT DISTINCT receipt_status FROM transactions").fetchall()
    assert {s for (s,) in statuses} == {0, 1}
    nulls = con.execute(
        "SELECT count(*) FROM transactions WHERE receipt_effective_gas_price IS NULL"
    ).fetchall()
    assert nulls == [(0,)]


def test_token_values_are_exact_decimal_strings(chain: dict[str, pa.Table]) -> None:
    tt = chain["token_transfers"]
    values = tt["value"].to_pylist()
    assert all(v.isdigit() and (v == "0" or not v.startswith("0")) for v in values)
    assert set(tt["token_decimals"].to_pylist()) == {0, 6, 18}
    assert tt["token_name"].null_count == tt["token_symbol"].null_count == 0


def test_scam_tokens_mint_uint256_sized_amounts() -> None:
    config = SimConfig(seed=3, n_accounts=2000, days=30)  # ~15 fake ICOs
    pop = build_population(config)
    scam = pop.indices(A.SCAM_TOKEN)
    day = int(activity.creation_day(pop)[scam].max())
    assert 0 <= day < config.days  # a scam token is created inside the span
    tt = generate_day(config, day)["token_transfers"]
    mints = tt.filter(pc.equal(tt["from_address"], "0x" + "0" * 40))
    huge = [int(v) for v in mints["value"].to_pylist() if int(v) > 2**128]
    assert huge and max(huge) < 2**256
    assert str(huge[0]) in mints["value"].to_pylist()  # exact, digit for digit


def test_ether_values_are_exact_wei(chain: dict[str, pa.Table]) -> None:
    values = chain["transactions"]["value"]
    assert values.type == pa.decimal128(38, 0)
    assert pc.min(values).as_py() >= 0
    typed = [v for v in values.to_pylist() if v % 10**9 != 0]  # full-precision amounts exist
    assert typed and all(v == int(v) for v in typed[:100])


def test_nonces_run_without_gaps_per_sender(con: duckdb.DuckDBPyConnection) -> None:
    gaps = con.execute(
        "SELECT count(*) FROM (SELECT from_address, max(nonce) - min(nonce) + 1 AS span, "
        "count(*) AS n FROM transactions GROUP BY from_address) WHERE span <> n"
    ).fetchall()
    assert gaps == [(0,)]


def test_phishing_collectors_have_many_distinct_senders(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT a.archetype, count(*) AS received, count(DISTINCT t.from_address) AS senders "
        "FROM transactions t JOIN accounts a ON t.to_address = a.address "
        "GROUP BY a.address, a.archetype"
    ).fetchall()
    phishing = [(r, s) for arch, r, s in rows if arch == "phishing_collector"]
    assert max(s for _, s in phishing) >= 5
    assert sum(s for _, s in phishing) / sum(r for r, _ in phishing) > 0.8  # mostly one-off
    exchange = max(s for arch, _, s in rows if arch == "exchange_hot_wallet")
    holder = max(s for arch, _, s in rows if arch == "occasional_holder")
    assert exchange > 2 * holder


def test_relays_and_draining_scams_end_at_exactly_zero(con: duckdb.DuckDBPyConnection) -> None:
    balances = con.execute(
        """
        WITH legs AS (
            SELECT to_address AS address, value AS delta FROM transactions WHERE receipt_status = 1
            UNION ALL
            SELECT from_address, -value FROM transactions WHERE receipt_status = 1
            UNION ALL
            SELECT from_address, -CAST(receipt_gas_used * gas_price AS DECIMAL(38, 0))
            FROM transactions
        )
        SELECT a.archetype, sum(delta) AS balance
        FROM legs JOIN accounts a USING (address)
        WHERE a.archetype IN ('exchange_deposit_relay', 'occasional_holder')
        GROUP BY a.address, a.archetype
        """
    ).fetchall()
    relays = [b for arch, b in balances if arch == "exchange_deposit_relay"]
    holders = [b for arch, b in balances if arch == "occasional_holder"]
    assert np.mean([b == 0 for b in relays]) > 0.9
    assert np.mean([b == 0 for b in holders]) < 0.1


def test_accounts_and_darklist_formats(tmp_path: Path) -> None:
    accounts = accounts_table(SMALL)
    assert accounts.num_rows == SMALL.n_accounts
    assert accounts.column_names == ["address", "archetype", "is_illicit"]
    entries = darklist_entries(SMALL)
    assert entries and all(set(e) == {"address", "comment", "date"} for e in entries)
    assert all(address_problem(e["address"]) is None for e in entries)
    assert any(e["address"] != e["address"].lower() for e in entries)  # EIP-55 ones too
    assert {e["comment"] for e in entries} <= {"Phishing", "Ponzi", "Fake ICO", "Impersonator"}
    assert all(date.fromisoformat(e["date"]) <= SMALL.end_date for e in entries)
    darklist = write_darklist(SMALL, tmp_path / "addresses-darklist.json")
    assert json.loads(darklist.read_text()) == entries
    parsed = read_label_files([darklist])
    assert parsed.rejected.height == 0 and parsed.labels.height == len(entries)
    universe = read_address_file(write_accounts(SMALL, tmp_path / "accounts.csv"))
    assert universe.height == SMALL.n_accounts


def test_label_noise_misses_illicit_and_lists_some_normal() -> None:
    noisy = SimConfig(seed=3, n_accounts=2000, days=30, label_noise=0.2, false_listing_share=0.02)
    truth = dict(
        zip(
            accounts_table(noisy)["address"].to_pylist(),
            accounts_table(noisy)["is_illicit"].to_pylist(),
            strict=True,
        )
    )
    listed = {e["address"].lower() for e in darklist_entries(noisy)}
    illicit = {a for a, bad in truth.items() if bad}
    missed = len(illicit - listed) / len(illicit)
    wrong = len(listed - illicit)
    assert 0.1 < missed < 0.3 and wrong > 5


def test_stage_through_the_lake_gives_one_file_per_day(tmp_path: Path) -> None:
    source = SimulatedChainSource(seed=3, n_accounts=400, days=30, work_dir=str(tmp_path / "w"))
    start, end = datetime(2020, 12, 30, tzinfo=UTC), datetime(2021, 1, 4, tzinfo=UTC)
    for raw in (TRANSACTIONS, TOKEN_TRANSFERS):
        written = replace_window(
            tmp_path / "lake",
            raw,
            lambda con, raw=raw: source.stage(con, raw, start, end),
            start,
            end,
        )
        days = [date(2021, 1, d) for d in (1, 2, 3)]  # the span starts on 2021-01-01
        assert [d.day for d in written.days] == days
        assert len(table_files(tmp_path / "lake", raw)) == 3
        expected = sum(generate_day(SMALL, i)[raw.name].num_rows for i in range(3))
        assert written.rows == expected
        assert written.source_metadata["simulated_days"] == 3


def test_source_files_and_span(tmp_path: Path) -> None:
    source = SimulatedChainSource(seed=3, n_accounts=400, days=30, work_dir=str(tmp_path))
    assert source.span() == (date(2021, 1, 1), date(2021, 1, 30))
    assert source.partition_range() == "2021-01-01...2021-01-30"
    [labels] = source.default_label_files()
    path, flag = source.default_address_file()
    assert flag is None and Path(path).parent == Path(labels).parent
    assert Path(labels).read_bytes() == Path(source.default_label_files()[0]).read_bytes()
    assert "simulated" in source.describe()


def test_invalid_config_is_rejected_with_reasons() -> None:
    with pytest.raises(ValueError, match="n_accounts"):
        SimConfig(n_accounts=10)
    with pytest.raises(ValueError, match="outside the simulated span"):
        generate_day(SMALL, SMALL.days)


def test_raw_assets_materialize_from_the_simulated_source(tmp_path: Path, make_resources) -> None:
    resources = make_resources(
        source=SimulatedChainSource(n_accounts=400, days=5, work_dir=str(tmp_path / "w"))
    )
    result = materialize(
        [raw_transactions, raw_token_transfers],
        partition_key="2021-01-02",
        resources=resources,
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    assert len(table_files(tmp_path / "lake", TRANSACTIONS)) == 1
