"""Benchmark of one night: the features after day N+1 from the feature state against a full
recompute from the raw history, over the same lake, for N = 30, 90 and 180 days of a simulated
chain at mainnet-like density (>= 100,000 transactions a day).

The incremental night builds the day's state from its lake files, keeps the feature tables of
the night before (computed in the set-up, not timed) and recomputes the addresses that changed
(eth_assets/features/changed_addresses.py); the whole-state column recomputes every address from
the state instead; the full recompute reads the raw history. All compute address_features,
behaviour_features and address_activity for every simulated account. Each measurement runs in a
fresh subprocess (peak RSS is that process's); the median of `--repeats` runs is printed with
the ratio of full to incremental. Not a test.

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
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.chain.sim import SimConfig, accounts_table, clear_caches, generate_day
from eth_assets.common.duckdb_utils import connect
from eth_assets.features.changed_addresses import PER_ADDRESS_TABLES, create_changed_tables
from eth_assets.features.feature_state import create_tables_from_state, register_excluded_tokens
from eth_assets.features.feature_tables import (
    create_address_activity,
    create_address_features,
    create_behaviour_features,
    register_lake_views,
)
from eth_assets.features.state_run import (
    midnight,
    refresh_state,
    register_state_as_of,
    state_folder,
)
from eth_assets.features.state_store import day_dir
from eth_assets.lake.partition_writes import replace_window
from eth_assets.resources.parquet_lake import ParquetLake


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


PREVIOUS = "previous_night.duckdb"  # the feature tables as of the night's start


def previous_night(root: Path, night: date) -> None:
    """The feature tables as of the start of `night` (from the state), as the night before left
    them: what the incremental night keeps for addresses that did not change."""
    with connect(root / PREVIOUS) as con:
        con.execute(f"CREATE TABLE universe AS FROM read_parquet('{root / 'universe.parquet'}')")
        register_state_as_of(con, state_folder(root), root, midnight(night), None)
        register_excluded_tokens(con, ())
        create_tables_from_state(con, *PER_ADDRESS_TABLES)


def measure(kind: str, root: Path, night: date) -> dict[str, float]:
    """One night's features as of the end of `night`: `incremental` (the night's state, then the
    changed addresses recomputed), `whole-state` (the night's state, then every address from the
    whole state) or `full` (every address from the raw history)."""
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
            if kind == "whole-state":
                create_tables_from_state(con, *PER_ADDRESS_TABLES)
            else:  # the night before's tables kept, the changed addresses recomputed
                con.execute(f"ATTACH '{root / PREVIOUS}' AS prev (READ_ONLY)")
                timings["recomputed"] = create_changed_tables(con, "prev", night)
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
    parser.add_argument("--measure", choices=["incremental", "whole-state", "full", "backfill"])
    parser.add_argument("--lake")
    parser.add_argument("--night")
    args = parser.parse_args()
    if args.measure == "backfill":
        root = Path(args.lake)
        refresh_state(state_folder(root), root, [], "backfill", None)
        previous_night(root, date.fromisoformat(args.night))
        print(json.dumps({"peak_rss_mib": peak_rss_mib()}))
        return
    if args.measure:
        print(json.dumps(measure(args.measure, Path(args.lake), date.fromisoformat(args.night))))
        return
    sizes = [int(d) for d in args.days.split(",")]
    config = SimConfig(n_accounts=args.accounts, days=max(sizes) + 1, activity=args.activity)
    print(f"chain: {args.accounts:,} accounts, activity x{args.activity}, nights after {sizes}")
    print(
        "| days | transactions | tx/day | night s (state + changed) | addresses recomputed |"
        " every address from the state s | full s | ratio | night MiB | full MiB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for days in sizes:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "lake"
            n_tx, _ = write_lake(root, config, days + 1)
            night = config.start_date + timedelta(days=days)
            # the state of the first N days and their feature tables exist (the nights before);
            # night N+1 is measured
            run_measure("backfill", root, night)
            runs: dict[str, list[dict[str, float]]] = {"incremental": [], "whole-state": []}
            runs["full"] = []
            for _ in range(args.repeats):
                for kind, done in runs.items():
                    # drop the night's state so that each night builds it again
                    shutil.rmtree(day_dir(state_folder(root), night), ignore_errors=True)
                    done.append(run_measure(kind, root, night))

            def median(kind: str, key: str, runs: dict = runs) -> float:
                return statistics.median(r[key] for r in runs[kind])

            inc, state = median("incremental", "seconds"), median("incremental", "state_seconds")
            whole = median("full", "seconds")
            print(
                f"| {days} | {n_tx:,} | {n_tx / (days + 1):,.0f} | {inc:.2f} ({state:.2f} + "
                f"{inc - state:.2f}) | {median('incremental', 'recomputed'):,.0f} of "
                f"{median('incremental', 'rows'):,.0f} | {median('whole-state', 'seconds'):.2f} | "
                f"{whole:.2f} | {whole / inc:.1f}x | {median('incremental', 'peak_rss_mib'):,.0f} "
                f"| {median('full', 'peak_rss_mib'):,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
