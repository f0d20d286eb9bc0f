"""Benchmark of the simulated chain: generation rate, memory, the default chain through the lake.

Prints transactions generated per second over 30 simulated days of a large chain (> 1 M
transactions), the rate per 10 s, peak RSS, the same rate for a naive per-transaction Python
generator of the same columns (the obvious implementation, timed on a slice), and the wall time
of writing the default chain (both raw tables) into the Parquet lake. Not a test.

    python bench/simulate.py [--accounts 100000] [--days 30] [--naive-rows 20000]
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import resource
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS
from eth_assets.chain.sim import SimConfig, generate_day
from eth_assets.chain.sim.day import TRANSACTIONS_SCHEMA
from eth_assets.chain.sim.population import build_population
from eth_assets.common.chain_time import start_of_day
from eth_assets.lake.partition_writes import replace_window
from eth_assets.resources.simulated_source import SimulatedChainSource


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vectorised(config: SimConfig) -> tuple[int, int, float]:
    """(transactions, token transfers, seconds) to generate every day of `config`."""
    started = time.perf_counter()
    n_tx = n_tok = 0
    for day in range(config.days):
        tables = generate_day(config, day)
        n_tx += tables["transactions"].num_rows
        n_tok += tables["token_transfers"].num_rows
    return n_tx, n_tok, time.perf_counter() - started


def naive(config: SimConfig, rows: int) -> float:
    """Seconds for a per-transaction Python loop to make `rows` rows of the same columns from
    the same population (weighted senders, consecutive nonces): the straightforward way."""
    pop = build_population(config)
    rnd = random.Random(config.seed)
    senders = np.flatnonzero(pop.rate > 0).tolist()
    cumulative = list(itertools.accumulate(pop.rate[senders].tolist()))
    addresses = [row.tobytes().decode() for row in pop.addr]
    values = pop.value_gwei.tolist()
    day0 = start_of_day(config.start_date)
    started = time.perf_counter()
    records = []
    nonces: dict[int, int] = {}
    for i in range(rows):
        sender = senders[bisect.bisect(cumulative, rnd.random() * cumulative[-1])]
        seconds = rnd.random() * 86400
        nonce = nonces.get(sender, 0)
        nonces[sender] = nonce + 1
        price = rnd.randrange(10, 200) * 10**9
        records.append(
            {
                "hash": "0x" + rnd.randbytes(32).hex(),
                "nonce": nonce,
                "transaction_index": i % 200,
                "from_address": addresses[sender],
                "to_address": addresses[rnd.randrange(pop.n)],
                "value": int(values[sender] * rnd.lognormvariate(0, 1)) * 10**9,
                "gas": 21000,
                "gas_price": price,
                "receipt_gas_used": 21000,
                "receipt_contract_address": None,
                "receipt_status": 1,
                "receipt_effective_gas_price": price,
                "block_timestamp": day0 + timedelta(seconds=seconds),
                "block_number": 11_565_019 + int(seconds // 13),
                "block_hash": "0x" + rnd.randbytes(32).hex(),
            }
        )
    pa.Table.from_pylist(records, schema=TRANSACTIONS_SCHEMA)
    return time.perf_counter() - started


def through_lake(source: SimulatedChainSource) -> tuple[int, float]:
    """(rows, seconds) to write the source's whole span of both raw tables into a fresh lake."""
    first, last = source.span()
    start = start_of_day(first)
    end = start_of_day(last + timedelta(days=1))
    started = time.perf_counter()
    rows = 0
    with tempfile.TemporaryDirectory() as folder:
        for raw in (TRANSACTIONS, TOKEN_TRANSFERS):
            written = replace_window(
                Path(folder),
                raw,
                lambda con, raw=raw: source.stage(con, raw, start, end),
                start,
                end,
            )
            rows += written.rows
    return rows, time.perf_counter() - started


def main() -> None:
    """Run the three measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--naive-rows", type=int, default=20_000)
    args = parser.parse_args()
    config = SimConfig(n_accounts=args.accounts, days=args.days)

    started = time.perf_counter()
    build_population(config)
    population_s = time.perf_counter() - started
    n_tx, n_tok, seconds = vectorised(config)
    rate = n_tx / seconds
    print(f"chain: {args.accounts:,} accounts, {args.days} days (population {population_s:.2f} s)")
    print(f"generated {n_tx:,} transactions + {n_tok:,} token transfers in {seconds:.2f} s")
    print(f"rate: {rate:,.0f} transactions/s = {rate * 10:,.0f} per 10 s (goal >= 1,000,000)")
    print(f"peak RSS: {peak_rss_mb():,.0f} MiB")

    naive_s = naive(config, args.naive_rows)
    naive_rate = args.naive_rows / naive_s
    print(
        f"naive per-transaction loop: {naive_rate:,.0f} transactions/s "
        f"({args.naive_rows:,} rows in {naive_s:.2f} s); "
        f"vectorised is {rate / naive_rate:.0f}x faster"
    )

    default = SimulatedChainSource()
    rows, lake_s = through_lake(default)
    print(
        f"default chain {default.partition_range()} into the lake (both tables): "
        f"{rows:,} rows in {lake_s:.1f} s; peak RSS {peak_rss_mb():,.0f} MiB"
    )


if __name__ == "__main__":
    main()
