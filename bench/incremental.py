"""Benchmark of one night: the features after day N+1 from the feature state (the day's state
built from its lake files, then the features merged from the state) against a full recompute
of the same features from the raw history, over the same lake, for N = 30, 90 and 180 days of a
simulated chain at mainnet-like density (>= 100,000 transactions a day).

Each measurement runs in a fresh subprocess (peak RSS is that process's); the median of
`--repeats` runs is printed with the ratio. Both sides compute address_features,
behaviour_features and address_activity for every simulated account; the incremental side is
also split into its two parts (the day's state; the features from the state). Not a test.

    python bench/incremental.py [--accounts 100000] [--activity 6] [--days 30,90,180] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.chain.sim import SimConfig, accounts_table, clear_caches, generate_day
from eth_assets.common.duckdb_utils import connect
from eth_assets.features.feature_state import create_tables_from_state, register_excluded_tokens
from eth_assets.features.feature_tables import (
    create_address_activity,
    create_address_features,
    create_behaviour_features,
    register_lake_views,
)
from eth_assets.features.state_run import refresh_state, register_state_as_of, state_folder
from eth_assets.features.state_store import day_dir
from eth_assets.lake.partition_writes import replace_window
from eth_assets.resources.parquet_lake import ParquetLake


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def write_lake(root: Path, config: SimConfig, days: int) -> tuple[int, int]:
    """The first `days` simulated days in a lake at `root` (day by day, as the raw assets write
    them), and the universe file; (transactions, token transfers) written."""
    counts = [0, 0]
    for offset in range(days):
        tables = generate_day(config, offset)
        day = config.start_date + timedelta(days=offset)
        for i, raw in enumerate((TRANSACTIONS, TOKEN_TRANSFERS)):
            rows = tables[raw.name]
            counts[i] += rows.num_rows

            def stage(con: duckdb.DuckDBPyConnection, rows: pa.Table = rows) -> tuple[str, dict]:
                con.register("day_rows", rows)
                return "day_rows", {}

            replace_window(
                root, raw, stage, midnight(day), midnight(day + timedelta(days=1)), "bench"
            )
    clear_caches()
    universe = accounts_table(config).select(["address"])
    with connect() as con:
        con.register("universe_rows", universe)
        con.execute(f"COPY universe_rows TO '{root / 'universe.parquet'}' (FORMAT parquet)")
    return counts[0], counts[1]


def measure(kind: str, root: Path, night: date) -> dict[str, float]:
    """One night's features (`kind`: incremental or full) as of the end of `night`."""
    as_of = midnight(night + timedelta(days=1))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with connect() as con:
        con.execute(f"CREATE TABLE universe AS FROM read_parquet('{root / 'universe.parquet'}')")
        if kind == "full":
            register_lake_views(con, ParquetLake(root=str(root)))
            create_address_features(con, as_of, "address_features")
            create_behaviour_features(con, as_of, "behaviour_features")
            create_address_activity(con, as_of, "address_activity")
        else:
            refresh = refresh_state(state_folder(root), root, [night], "bench", None)
            assert refresh.built == [night], refresh.built
            timings["state_seconds"] = time.perf_counter() - started
            register_state_as_of(con, state_folder(root), root, as_of, None)
            register_excluded_tokens(con, ())
            create_tables_from_state(con, "address_features", "behaviour_features", "activity")
        rows = con.execute("SELECT count(*) FROM address_features").fetchall()[0][0]
    timings["seconds"] = time.perf_counter() - started
    timings["rows"] = rows
    timings["peak_rss_mib"] = peak_rss_mib()
    return timings


def peak_rss_mib() -> float:
    """This process's peak resident memory since it started (VmHWM: unlike ru_maxrss, it does
    not inherit the parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_measure(kind: str, root: Path, night: date) -> dict[str, float]:
    """`measure` in a fresh Python process."""
    done = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--lake", str(root), "--night", str(night)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--activity", type=float, default=6.0)
    parser.add_argument("--days", default="30,90,180")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--measure", choices=["incremental", "full", "backfill"])
    parser.add_argument("--lake")
    parser.add_argument("--night")
    args = parser.parse_args()
    if args.measure == "backfill":
        root = Path(args.lake)
        refresh_state(state_folder(root), root, [], "backfill", None)
        print(json.dumps({"peak_rss_mib": peak_rss_mib()}))
        return
    if args.measure:
        print(json.dumps(measure(args.measure, Path(args.lake), date.fromisoformat(args.night))))
        return
    sizes = [int(d) for d in args.days.split(",")]
    config = SimConfig(n_accounts=args.accounts, days=max(sizes) + 1, activity=args.activity)
    print(f"chain: {args.accounts:,} accounts, activity x{args.activity}, nights after {sizes}")
    print(
        "| days | transactions | tx/day | incremental s (state + features) | full s | ratio |"
        " incremental MiB | full MiB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for days in sizes:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "lake"
            n_tx, _ = write_lake(root, config, days + 1)
            night = config.start_date + timedelta(days=days)
            # the state of the first N days exists (the nights before); night N+1 is measured
            run_measure("backfill", root, night)
            incremental, full = [], []
            for _ in range(args.repeats):
                # drop the night's state so that each incremental run builds it again
                shutil.rmtree(day_dir(state_folder(root), night))
                incremental.append(run_measure("incremental", root, night))
                full.append(run_measure("full", root, night))
            inc = statistics.median(r["seconds"] for r in incremental)
            state = statistics.median(r["state_seconds"] for r in incremental)
            whole = statistics.median(r["seconds"] for r in full)
            print(
                f"| {days} | {n_tx:,} | {n_tx / (days + 1):,.0f} | {inc:.2f} ({state:.2f} + "
                f"{inc - state:.2f}) | {whole:.2f} | {whole / inc:.1f}x | "
                f"{statistics.median(r['peak_rss_mib'] for r in incremental):,.0f} | "
                f"{statistics.median(r['peak_rss_mib'] for r in full):,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
