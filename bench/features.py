"""Benchmark of `address_features`: transaction rows per second and peak memory, DuckDB SQL against
a straightforward pandas implementation in the same run.

Inputs: the real sample (../shared/data/raw_txns) and copies of it replicated with shifted
addresses and hashes to about 1 M and 10 M transactions. Each measurement runs in its own process
so its peak RSS is its own. Prints a table; not a test.

    python bench/features.py [--sizes 1,3,26] [--skip-pandas-above 30000000] [--memory-limit 2GB]
"""

from __future__ import annotations

import argparse
import json
import os
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


def run_duckdb(raw_dir: Path, memory_limit: str) -> dict[str, float]:
    """The project's feature SQL, as the asset runs it (2 threads, a memory limit that spills)."""
    from eth_assets.features import create_address_features, register_sample_views

    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        con.execute("SET threads = 2")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET temp_directory = '{tmp}/spill'")
        register_sample_views(con, raw_dir)
        start = time.perf_counter()
        rows = create_address_features(con, AS_OF, "address_features")
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "addresses": rows}


def run_pandas(raw_dir: Path) -> dict[str, float]:
    """A straightforward pandas version of the ether-transaction features (a subset: counts,
    counterparties, value min/max/avg, totals, balance, time gaps) for the same universe."""
    import pandas as pd

    start = time.perf_counter()
    tx = pd.read_parquet(raw_dir / "transactions.parquet")
    accounts = pd.read_csv(raw_dir / "accounts.csv", dtype=str)
    universe = set(accounts.loc[accounts["in_subset"].str.lower() == "true", "address"].str.lower())
    tx = tx[tx["block_timestamp"] < pd.Timestamp(AS_OF)]
    tx["eth"] = tx["value"].astype("float64") / 1e18
    tx["ok"] = tx["receipt_status"].fillna(1) != 0
    tx["minutes"] = tx["block_timestamp"].astype("int64") / 60e9
    sent = tx[tx["from_address"].isin(universe)].rename(columns={"from_address": "address"})
    received = tx[tx["to_address"].isin(universe)].rename(columns={"to_address": "address"})
    s = sent.sort_values("minutes").groupby("address")
    r = received.sort_values("minutes").groupby("address")
    out = pd.DataFrame(index=sorted(universe))
    out["sent_tnx"] = s.size()
    out["received_tnx"] = r.size()
    out["number_of_created_contracts"] = sent[sent["to_address"].isna()].groupby("address").size()
    out["unique_sent_to"] = s["to_address"].nunique()
    out["unique_received_from"] = r["from_address"].nunique()
    ok_sent = sent[sent["ok"]].groupby("address")["eth"]
    ok_received = received[received["ok"]].groupby("address")["eth"]
    for name, group in (("sent", ok_sent), ("received", ok_received)):
        out[f"min_val_{name}"] = group.min()
        out[f"max_val_{name}"] = group.max()
        out[f"avg_val_{name}"] = group.mean()
        out[f"total_ether_{name}"] = group.sum()
    out["avg_min_between_sent"] = s["minutes"].apply(lambda m: m.diff().mean())
    out["avg_min_between_received"] = r["minutes"].apply(lambda m: m.diff().mean())
    both = pd.concat([sent[["address", "minutes"]], received[["address", "minutes"]]])
    span = both.groupby("address")["minutes"]
    out["time_diff_first_last"] = span.max() - span.min()
    out["total_ether_balance"] = out["total_ether_received"].fillna(0) - out[
        "total_ether_sent"
    ].fillna(0)
    out = out.fillna(0)
    return {"seconds": time.perf_counter() - start, "addresses": len(out)}


def measure(kind: str, raw_dir: Path, memory_limit: str) -> dict[str, float]:
    """Run one measurement in a child process, which reports its own peak RSS."""
    extra = f", {memory_limit!r}" if kind == "duckdb" else ""
    code = (
        f"import json, resource, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"from pathlib import Path; from features import run_{kind}; "
        f"r = run_{kind}(Path({str(raw_dir)!r}){extra}); "
        "r['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
        "print(json.dumps(r))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,3,26", help="copies of the sample (1 = the sample)")
    parser.add_argument("--skip-pandas-above", type=int, default=30_000_000)
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit")
    args = parser.parse_args()
    raw = SHARED / "raw_txns"
    if not (raw / "transactions.parquet").is_file():
        sys.exit(f"real sample not found under {raw} (set ETH_ASSETS_SHARED_DATA)")
    header = ("transactions", "engine", "seconds", "rows/s", "peak MiB", "× pandas")
    print("{:>12} {:>7} {:>8} {:>12} {:>9} {:>9}".format(*header))
    with tempfile.TemporaryDirectory() as tmp:
        for copies in (int(c) for c in args.sizes.split(",")):
            folder = raw if copies == 1 else Path(tmp) / f"x{copies}"
            rows = 383_720 if copies == 1 else build_replica(raw, folder, copies)
            duck = measure("duckdb", folder, args.memory_limit)
            panda = (
                measure("pandas", folder, args.memory_limit)
                if rows <= args.skip_pandas_above
                else None
            )
            ratio = panda["seconds"] / duck["seconds"] if panda else float("nan")
            for name, res in (("duckdb", duck), ("pandas", panda)):
                if res:
                    rate = rows / res["seconds"]
                    shown_ratio = ratio if name == "duckdb" else 1.0
                    print(
                        f"{rows:>12,} {name:>7} {res['seconds']:>8.2f} {rate:>12,.0f} "
                        f"{res['peak_rss_mib']:>9.0f} {shown_ratio:>9.1f}"
                    )
    print("duckdb computes all 51 feature columns; pandas only the ether-transaction subset,")
    print(
        "so the ratio understates the difference. Peak RSS is per process (ru_maxrss of children)."
    )


if __name__ == "__main__":
    main()
