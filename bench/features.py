"""Benchmark of `address_features`: transaction rows per second and peak memory, DuckDB SQL against
a straightforward pandas implementation in the same run.

Inputs: the real sample (../shared/data/raw_txns) and copies of it replicated with shifted
addresses and hashes to about 1 M and 10 M transactions. Each input is first written into a
Parquet lake by the raw assets' own code, compaction included (untimed: that is ingestion),
then the feature step runs exactly as the asset runs it, through the asset's own function: a
warehouse file holding the universe as the `address_universe` asset stores it (untimed: another
asset), opened with 2 threads and a memory limit, lake views (planning which files to read is
timed) and the query. The same lake is also read
through its day files only (the lake without compaction) and as one flat file per table. A
further engine, "floor", runs only the sent/received counts and distinct counterparties (4 of
the 51 columns) over the flat files: the least any exact version of these features costs.
Each measurement runs in its own process so its peak RSS is its own, `--repeat` times (engines
interleaved, so a slow spell of the machine hits all of them); the table shows the median time
and the largest peak. Prints a table; not a test.

    python bench/features.py [--sizes 1,3,26] [--repeat 3] [--skip-pandas-above 30000000]
                             [--memory-limit 1GB]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

AS_OF = datetime(2023, 1, 1, tzinfo=UTC)
SHARED = Path(
    os.environ.get(
        "ETH_ASSETS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)


def shift(column: str) -> str:
    """SQL moving an address or hash into replica `k`: its first 4 hex digits become k."""
    return (
        f"CASE WHEN {column} IS NOT NULL THEN '0x' || printf('%04x', k) || substr({column}, 7) END"
    )


def build_replica(raw_dir: Path, out: Path, copies: int) -> int:
    """Write `copies` address-shifted copies of the sample as one Parquet file per table."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"CREATE TEMP TABLE k AS SELECT range AS k FROM range({copies})")
    tx = raw_dir / "transactions.parquet"
    tt = raw_dir / "token_transfers.parquet"
    acc = raw_dir / "accounts.csv"
    tx_columns = ("hash", "from_address", "to_address", "receipt_contract_address")
    tt_columns = ("transaction_hash", "from_address", "to_address")
    for source, columns, target in (
        (tx, tx_columns, out / "transactions.parquet"),
        (tt, tt_columns, out / "token_transfers.parquet"),
    ):
        shifted = ", ".join(f"{shift(c)} AS {c}" for c in columns)
        con.execute(
            f"COPY (SELECT t.* REPLACE ({shifted}) FROM read_parquet('{source}') AS t, k) "
            f"TO '{target}' (FORMAT parquet)"
        )
    con.execute(
        f"COPY (SELECT {shift('lower(address)')} AS address, 'true' AS in_subset "
        f"FROM read_csv('{acc}', all_varchar = true) AS a, k "
        f"WHERE lower(in_subset) = 'true' AND address LIKE '0x%') "
        f"TO '{out / 'accounts.csv'}' (HEADER)"
    )
    target = out / "transactions.parquet"
    return con.execute(f"SELECT count(*) FROM '{target}'").fetchall()[0][0]


FLOOR_SQL = """
WITH ids AS (SELECT DISTINCT address FROM universe),
sent AS (
    SELECT a.address, COUNT(*) AS n, COUNT(DISTINCT t.to_address) AS n_to
    FROM transactions AS t INNER JOIN ids AS a ON t.from_address = a.address
    WHERE t.block_timestamp < $as_of GROUP BY a.address
),
received AS (
    SELECT a.address, COUNT(*) AS n, COUNT(DISTINCT t.from_address) AS n_from
    FROM transactions AS t INNER JOIN ids AS a ON t.to_address = a.address
    WHERE t.block_timestamp < $as_of GROUP BY a.address
)
SELECT * FROM ids LEFT JOIN sent USING (address) LEFT JOIN received USING (address)
"""


def build_lake(raw_dir: Path, lake_root: Path) -> None:
    """Ingest a folder in the BigQuery schema into a lake, as the raw assets do (untimed)."""
    from eth_assets.chain.schemas import RAW_TABLES
    from eth_assets.common.chain_time import GENESIS
    from eth_assets.resources.chain_sources import ParquetChainSource
    from eth_assets.resources.parquet_lake import ParquetLake

    source = ParquetChainSource(folder=str(raw_dir))
    lake = ParquetLake(root=str(lake_root))
    for table in ("transactions", "token_transfers"):
        lake.replace_window(
            table,
            lambda con, t=table: source.stage(con, RAW_TABLES[t], GENESIS, AS_OF),
            GENESIS,
            AS_OF,
        )


def flatten_lake(lake_root: Path, flat: Path) -> None:
    """One canonical Parquet file per table from the lake: the feature query without the lake's
    per-day files (on the sparse sample, one small file per day)."""
    from eth_assets.resources.parquet_lake import ParquetLake

    flat.mkdir(parents=True, exist_ok=True)
    lake = ParquetLake(root=str(lake_root))
    con = duckdb.connect()
    for table in ("transactions", "token_transfers"):
        relation = lake.relation_sql(table)
        con.execute(
            f"COPY (SELECT * EXCLUDE (block_date) FROM ({relation}) ORDER BY block_timestamp) "
            f"TO '{flat / table}.parquet' (FORMAT parquet, COMPRESSION zstd)"
        )
    con.close()


def prepare(raw: Path, work: Path, copies: int) -> dict[str, int]:
    """Inputs of one size under `work`: raw copies, their lake, flat files, and a warehouse
    holding the universe as the `address_universe` asset stores it. Returns the number of
    transaction rows, and the transactions files the lake holds and a reader opens."""
    from eth_assets.lake.compaction import day_files, read_plan

    folder = raw if copies == 1 else work / "raw"
    rows = 383_720 if copies == 1 else build_replica(raw, folder, copies)
    build_lake(folder, work / "lake")
    flatten_lake(work / "lake", work / "flat")
    store_sample_universe(folder, work / WAREHOUSE)
    plan = read_plan(work / "lake" / "transactions")
    return {
        "rows": rows,
        "day_files": len(day_files(work / "lake" / "transactions")),
        "read_files": len(plan.compact_files) + len(plan.day_files),
    }


WAREHOUSE = "warehouse.duckdb"


def store_sample_universe(raw_dir: Path, database: Path) -> None:
    """The accounts of accounts.csv with in_subset = true, stored by the universe asset's own
    code: the feature step finds its universe in the warehouse (untimed: another asset)."""
    import polars as pl

    from eth_assets.features.universe import read_address_file, store_universe

    universe = read_address_file(raw_dir / "accounts.csv", "in_subset")
    con = duckdb.connect(str(database))
    store_universe(con, universe, pl.DataFrame({"address": []}, schema={"address": pl.Utf8}))
    con.close()


def _copy_warehouse(tmp: str, work: Path) -> Path:
    """A fresh copy of the prepared warehouse, so that every run starts from the same file."""
    database = Path(tmp) / WAREHOUSE
    shutil.copyfile(work / WAREHOUSE, database)
    return database


def _connect(database: Path, work: Path, layout: str, memory_limit: str):
    """A warehouse connection as the asset opens it, with input views and the universe for the
    layouts the asset does not read: "days" is the lake's day files only (the lake without
    compaction), "flat" one file per table. Layout "lake" gets its views from the asset's code."""
    from eth_assets.common.duckdb_utils import connect
    from eth_assets.features.universe import UNIVERSE_TABLE
    from eth_assets.lake.compaction import ReadPlan, day_files, plan_sql

    con = connect(database, threads=2, memory_limit=memory_limit)
    if layout == "lake":
        return con
    for table in ("transactions", "token_transfers"):
        if layout == "days":
            days = list(day_files(work / "lake" / table).values())
            relation = plan_sql(ReadPlan(compact_files=[], day_files=days))
        else:
            relation = f"SELECT * FROM read_parquet('{work / 'flat' / table}.parquet')"
        con.execute(f"CREATE TEMP VIEW {table} AS {relation}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW universe AS SELECT address FROM {UNIVERSE_TABLE}")
    return con


def run_duckdb(raw_dir: Path, work: Path, layout: str, memory_limit: str) -> dict[str, float]:
    """The project's feature SQL; over the lake, the asset's own function (features_from_lake)."""
    from eth_assets.features.feature_tables import create_address_features, features_from_lake
    from eth_assets.resources.parquet_lake import ParquetLake

    with tempfile.TemporaryDirectory() as tmp:
        database = _copy_warehouse(tmp, work)
        start = time.perf_counter()  # planning the lake's files is part of the asset's path
        con = _connect(database, work, layout, memory_limit)
        if layout == "lake":
            rows = features_from_lake(con, ParquetLake(root=str(work / "lake")), AS_OF)
        else:
            rows = create_address_features(con, AS_OF, "address_features")
        seconds = time.perf_counter() - start
        con.close()
    return {"seconds": seconds, "addresses": rows}


def run_floor(raw_dir: Path, work: Path, layout: str, memory_limit: str) -> dict[str, float]:
    """Only counts and distinct counterparties per side, over the same input and settings."""
    with tempfile.TemporaryDirectory() as tmp:
        database = _copy_warehouse(tmp, work)
        start = time.perf_counter()
        con = _connect(database, work, layout, memory_limit)
        con.execute(f"CREATE TABLE floor AS {FLOOR_SQL}", {"as_of": AS_OF})
        seconds = time.perf_counter() - start
        rows = con.execute("SELECT COUNT(*) FROM floor").fetchall()[0][0]
        con.close()
    return {"seconds": seconds, "addresses": rows}


def run_pandas(raw_dir: Path, work: Path, layout: str, memory_limit: str) -> dict[str, float]:
    """The same 51 feature columns in plain pandas (bench/pandas_features.py), reading the flat
    input (only the columns it uses). Its universe is DuckDB's, read before the clock starts.
    `memory_limit` is DuckDB's; pandas has none."""
    from pandas_features import pandas_features, read_inputs

    universe = stored_universe(work)
    start = time.perf_counter()
    transactions, token_transfers = read_inputs(work / "flat")
    features = pandas_features(transactions, token_transfers, universe, AS_OF)
    return {"seconds": time.perf_counter() - start, "addresses": len(features)}


def stored_universe(work: Path) -> list[str]:
    """The universe addresses stored in the prepared warehouse, sorted: what DuckDB reads."""
    from eth_assets.features.universe import UNIVERSE_TABLE

    con = duckdb.connect(str(work / WAREHOUSE), read_only=True)
    rows = con.execute(f"SELECT address FROM {UNIVERSE_TABLE} ORDER BY address").fetchall()
    con.close()
    return [row[0] for row in rows]


def compare_engines(raw_dir: Path, work: Path) -> dict[str, object]:
    """Both engines' features over the flat input: the columns on which any address differs
    (counts and names exactly, amounts within 1e-9 relative). Untimed; it shows that the
    baseline computes the same features."""
    import numpy as np
    from pandas_features import pandas_features, read_inputs

    from eth_assets.features.feature_tables import (
        CATEGORICAL_COLUMNS,
        FEATURE_COLUMNS,
        create_address_features,
    )

    with tempfile.TemporaryDirectory() as tmp:
        con = _connect(_copy_warehouse(tmp, work), work, "flat", "4GB")
        create_address_features(con, AS_OF, "address_features")
        ours = con.sql("SELECT * FROM address_features ORDER BY address").df()
        con.close()
    theirs = pandas_features(*read_inputs(work / "flat"), stored_universe(work), AS_OF)
    if list(ours["address"]) != list(theirs["address"]):
        return {"addresses": len(ours), "differing": ["address"]}
    differing = []
    for column in FEATURE_COLUMNS:
        a, b = ours[column], theirs[column]
        if column in CATEGORICAL_COLUMNS:
            same = (a.fillna("\0") == b.fillna("\0")).all()
        else:
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            same = np.allclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=False)
        if not same:
            differing.append(column)
    return {"addresses": len(ours), "differing": differing}


def child(code: str, what: str) -> dict[str, float]:
    """Run `code` in a fresh Python process (its peak RSS is its own); its last line is JSON."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{what} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(kind: str, raw_dir: Path, work: Path, layout: str, limit: str) -> dict[str, float]:
    """One measurement in a child process, which reports its peak RSS and its import baseline."""
    modules = "pandas, pandas_features, duckdb"  # duckdb: bench/features.py imports it
    if kind != "pandas":
        modules = (
            "eth_assets.features.feature_tables, eth_assets.resources.parquet_lake, "
            "eth_assets.features.universe"
        )
    code = (
        f"import json, resource, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"import {modules}; "
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
        f"from pathlib import Path; from features import run_{kind}; "
        f"r = run_{kind}(Path({str(raw_dir)!r}), Path({str(work)!r}), {layout!r}, {limit!r}); "
        "r['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
        "r['base_rss_mib'] = base; print(json.dumps(r))"
    )
    return child(code, f"{kind} over {layout} input in {work}")


def summarise(trials: list[dict[str, float]]) -> dict[str, float]:
    """Repeated runs of one measurement: the median time, the largest peak RSS."""
    return {
        "seconds": statistics.median(t["seconds"] for t in trials),
        "peak_rss_mib": max(t["peak_rss_mib"] for t in trials),
        "base_rss_mib": max(t["base_rss_mib"] for t in trials),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,3,26", help="copies of the sample (1 = the sample)")
    parser.add_argument("--skip-pandas-above", type=int, default=30_000_000)
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument(
        "--no-compare", action="store_true", help="skip checking that pandas = DuckDB"
    )
    args = parser.parse_args()
    raw = SHARED / "raw_txns"
    if not (raw / "transactions.parquet").is_file():
        sys.exit(f"real sample not found under {raw} (set ETH_ASSETS_SHARED_DATA)")
    print(f"DuckDB: 2 threads, memory_limit {args.memory_limit}; as_of {AS_OF:%Y-%m-%d}")
    header = ("transactions", "engine", "input", "seconds", "rows/s", "peak MiB", "imports")
    print("{:>12} {:>7} {:>5} {:>8} {:>12} {:>9} {:>8} {:>9}".format(*header, "× pandas"))
    files: dict[int, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for copies in (int(c) for c in args.sizes.split(",")):
            work = Path(tmp) / f"x{copies}"
            code = (
                f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                "from pathlib import Path; from features import prepare; "
                f"print(json.dumps(prepare(Path({str(raw)!r}), Path({str(work)!r}), {copies})))"
            )
            prepared = child(code, f"preparing {copies} copies")
            rows = int(prepared["rows"])
            files[rows] = (int(prepared["day_files"]), int(prepared["read_files"]))
            raw_dir = raw if copies == 1 else work / "raw"
            runs = [("duckdb", "days"), ("duckdb", "lake"), ("duckdb", "flat"), ("floor", "flat")]
            if rows <= args.skip_pandas_above:
                runs.append(("pandas", "flat"))
            trials: dict[tuple[str, str], list[dict[str, float]]] = {run: [] for run in runs}
            for _ in range(max(1, args.repeat)):
                for kind, layout in runs:
                    trial = measure(kind, raw_dir, work, layout, args.memory_limit)
                    trials[kind, layout].append(trial)
            results = {run: summarise(found) for run, found in trials.items()}
            pandas = results.get(("pandas", "flat"))
            for (kind, layout), res in results.items():
                rate = rows / res["seconds"]
                ratio = pandas["seconds"] / res["seconds"] if pandas else float("nan")
                print(
                    f"{rows:>12,} {kind:>7} {layout:>5} {res['seconds']:>8.2f} {rate:>12,.0f} "
                    f"{res['peak_rss_mib']:>9.0f} {res['base_rss_mib']:>8.0f} {ratio:>9.1f}"
                )
            if not args.no_compare:
                code = (
                    f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                    "from pathlib import Path; from features import compare_engines; "
                    f"print(json.dumps(compare_engines(Path({str(raw_dir)!r}), "
                    f"Path({str(work)!r}))))"
                )
                compared = child(code, f"comparing engines on {copies} copies")
                differing = compared["differing"]
                verdict = "differ on " + ", ".join(differing) if differing else "agree"
                print(
                    f"{rows:>12,} pandas and DuckDB {verdict} "
                    f"(all 51 columns, {compared['addresses']:,} addresses)"
                )
            shutil.rmtree(work)
    for rows, (days, read) in files.items():
        print(f"lake of {rows:,} transactions: {days:,} day files; a reader opens {read:,} files")
    for line in (
        "input lake: the raw assets' lake read as the asset reads it (compact files where",
        "current); days: the same lake's day files only, as without compaction; flat: the same",
        "rows as one file per table. duckdb computes all 51 feature columns;",
        "pandas computes the same 51 columns (bench/pandas_features.py; checked equal above);",
        "floor is 4 columns (counts and distinct counterparties per side). Peak RSS is per",
        "process (ru_maxrss of the child); imports is its RSS after imports, before any work.",
        "seconds: the median of --repeat runs; peak MiB: the largest of them.",
    ):
        print(line)


if __name__ == "__main__":
    main()
