"""Faults at the storage boundary, each with a clear error and no damage: unreadable source
files, a process killed (SIGKILL) in the middle of the day swap or of compaction, a full disk
while staging, compacting and committing to the warehouse."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from eth_assets.chain.schemas import TRANSACTIONS
from eth_assets.features.feature_provenance import Provenance, read_provenance
from eth_assets.features.feature_tables import feature_tables_from_lake
from eth_assets.features.universe import UNIVERSE_TABLE
from eth_assets.lake import partition_writes as lake_module
from eth_assets.lake.compaction import LakeFiles, compact_dir, table_relation_sql
from eth_assets.lake.partition_writes import replace_window
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets.resources.parquet_lake import ParquetLake
from eth_assets_tests.fixtures import ALICE, BOB, write_bigquery_schema_folder

START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2020, 1, 4, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


DAY_TWO = datetime(2020, 1, 2, tzinfo=UTC)


def _provenance(as_of: datetime) -> Provenance:
    return Provenance(as_of, "local", "test", True, "full chain", "", "lake", ())


def _source(folder: Path) -> ParquetChainSource:
    return ParquetChainSource(folder=str(folder))


def _write(lake: Path, source: ParquetChainSource) -> None:
    replace_window(
        lake,
        TRANSACTIONS,
        lambda con: source.stage(con, TRANSACTIONS, START, END),
        START,
        END,
        source.describe(),
    )


def _by_day(lake: Path) -> dict[str, list[tuple]]:
    rows = duckdb.sql(
        f"SELECT CAST(block_date AS VARCHAR), hash, nonce "
        f"FROM ({table_relation_sql(lake, TRANSACTIONS)}) ORDER BY ALL"
    ).fetchall()
    found: dict[str, list[tuple]] = {}
    for day, *rest in rows:
        found.setdefault(day, []).append(tuple(rest))
    return found


def _renumbered(folder: Path, target: Path) -> Path:
    """The same transactions with nonces + 100: a new version of every day, same source path."""
    duckdb.sql(
        f"COPY (SELECT * REPLACE (nonce + 100 AS nonce) FROM '{folder}/transactions.parquet') "
        f"TO '{target}' (FORMAT parquet)"
    )
    return target


@pytest.mark.parametrize("damage", ["truncated", "not parquet"])
def test_an_unreadable_source_file_is_named_and_the_lake_untouched(
    tmp_path: Path, damage: str
) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    _write(lake, _source(folder))
    before = _by_day(lake)
    path = folder / "transactions.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"hash,value\n0x1,5\n")
    with pytest.raises(duckdb.Error) as failed:
        _write(lake, _source(folder))
    assert str(path) in str(failed.value)
    assert _by_day(lake) == before


def _run_killed(script: str, tmp_path: Path) -> None:
    """Run `script` in a Python process that SIGKILLs itself where the script says."""
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == -9, completed.stderr[-2000:]


def test_sigkill_during_the_day_swap_leaves_whole_days_and_the_next_run_repairs(
    tmp_path: Path,
) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    _write(lake, _source(folder))
    before = _by_day(lake)
    new = _renumbered(folder, tmp_path / "new.parquet")
    new.replace(folder / "transactions.parquet")
    _run_killed(
        f"""
        import os, signal
        from datetime import UTC, datetime
        from pathlib import Path
        from eth_assets.lake import partition_writes as lake_module
        from eth_assets.resources.chain_sources import ParquetChainSource
        from eth_assets.chain.schemas import TRANSACTIONS
        real, calls = os.replace, []
        def replace_then_die(src, dst):
            calls.append(dst)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            real(src, dst)
        lake_module.os.replace = replace_then_die
        source = ParquetChainSource(folder={str(folder)!r})
        start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 4, tzinfo=UTC)
        lake_module.replace_window(
            Path({str(lake)!r}), TRANSACTIONS,
            lambda con: source.stage(con, TRANSACTIONS, start, end), start, end,
            source.describe(),
        )
        """,
        tmp_path,
    )
    after = _by_day(lake)
    # The first day was swapped, the others were not: each day is one version, whole.
    assert set(after) == set(before)
    assert after["2020-01-01"] != before["2020-01-01"]
    assert after["2020-01-02"] == before["2020-01-02"]
    assert all(len(after[d]) == len(before[d]) for d in before)
    assert list((lake / ".staging").iterdir()), "the killed run's staging is left for the sweep"
    _write(lake, _source(folder))  # the next run completes the window
    repaired = _by_day(lake)
    assert all(nonce >= 100 for day in repaired.values() for _, nonce in day)


def test_sigkill_during_compaction_is_ignored_by_readers_and_repaired(tmp_path: Path) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    _write(lake, _source(folder))
    before = _by_day(lake)
    _run_killed(
        f"""
        import os, signal
        from pathlib import Path
        from eth_assets.lake import compaction
        def die(src, dst):
            os.kill(os.getpid(), signal.SIGKILL)
        compaction.os.replace = die
        compaction.compact_table(
            Path({str(lake)!r}) / "transactions", below_bytes=2**30, grace_seconds=3600
        )
        """,
        tmp_path,
    )
    leftovers = list(compact_dir(lake / "transactions").iterdir())
    assert leftovers and all(p.name.startswith(".") for p in leftovers)
    assert _by_day(lake) == before  # readers ignore the half-written compact file
    ParquetLake(root=str(lake)).compact("transactions")
    assert _by_day(lake) == before
    assert any(not p.name.startswith(".") for p in compact_dir(lake / "transactions").iterdir())


def test_a_full_disk_while_staging_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    _write(lake, _source(folder))
    before = _by_day(lake)
    _renumbered(folder, tmp_path / "new.parquet").replace(folder / "transactions.parquet")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(lake / ".staging"))

    monkeypatch.setattr(lake_module, "_stage_window", full)
    with pytest.raises(OSError, match="No space left on device"):
        _write(lake, _source(folder))
    assert _by_day(lake) == before
    assert not list((lake / ".staging").iterdir())


def test_a_full_disk_while_committing_to_the_warehouse_keeps_the_previous_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_bigquery_schema_folder(tmp_path / "src")
    lake = tmp_path / "lake"
    _write(lake, _source(folder))
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute(f"CREATE TABLE {UNIVERSE_TABLE} AS SELECT unnest([?, ?]) AS address", [ALICE, BOB])
    feature_tables_from_lake(con, LakeFiles(lake), END, (), _provenance(END))
    before = con.sql("SELECT * FROM address_features ORDER BY address").pl()
    behaviour_before = con.sql("SELECT * FROM behaviour_features ORDER BY address").pl()
    import eth_assets.features.feature_tables as features_module

    def full(*args: object, **kwargs: object) -> int:
        raise duckdb.IOException("could not write to the database file: No space left on device")

    monkeypatch.setattr(features_module, "create_behaviour_features", full)
    with pytest.raises(duckdb.IOException, match="No space left"):
        feature_tables_from_lake(con, LakeFiles(lake), DAY_TWO, (), _provenance(DAY_TWO))
    after = con.sql("SELECT * FROM address_features ORDER BY address").pl()
    assert after.equals(before)  # the new address_features was rolled back with the rest
    assert (
        con.sql("SELECT * FROM behaviour_features ORDER BY address").pl().equals(behaviour_before)
    )
    provenance = read_provenance(con)
    assert provenance is not None and provenance.as_of == END
    con.close()
    assert isinstance(before, pl.DataFrame) and before.height == 2
