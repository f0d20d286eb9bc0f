"""One simulated day as Arrow tables in the canonical raw columns of `eth_assets.chain.schemas`.

A day depends only on (config, day): the population is seed-only, send counts come from the
day's counts stream, and nonces from earlier days' counts (see `activity`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from eth_assets.chain.schemas import TOKEN_TRANSFERS, TRANSACTIONS, RawTable
from eth_assets.chain.sim import archetypes as A
from eth_assets.chain.sim.activity import DETAILS_STREAM, day_counts, day_rng, nonce_base, schedule
from eth_assets.chain.sim.archetypes import Kind
from eth_assets.chain.sim.behaviour import (
    HANDLERS,
    TRANSFER_GAS,
    DayContext,
    LogPart,
    TxPart,
    concat_parts,
)
from eth_assets.chain.sim.config import SimConfig
from eth_assets.chain.sim.encoding import (
    keyed_hex_rows,
    random_hex_rows,
    splitmix64,
    string_array,
    token_amount_strings,
    wei_decimal_array,
)
from eth_assets.chain.sim.flows import planned_parts
from eth_assets.chain.sim.population import HUGE_MINTS, Population, build_population

# Block numbers: an anchor block and a fixed block time (approximate mainnet around 2021).
ANCHOR_BLOCK = 11_565_019
ANCHOR_TS = int(datetime(2021, 1, 1, tzinfo=UTC).timestamp())
BLOCK_SECONDS = 13
ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DECIMAL(38,0)": pa.decimal128(38, 0),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}
_KIND_CDF = A.kind_cdf()


def arrow_schema(table: RawTable) -> pa.Schema:
    """The Arrow schema of a raw table's canonical columns."""
    return pa.schema([(name, ARROW_TYPES[sql]) for name, sql in table.columns])


TRANSACTIONS_SCHEMA = arrow_schema(TRANSACTIONS)
TOKEN_TRANSFERS_SCHEMA = arrow_schema(TOKEN_TRANSFERS)


def _group_rank(keys: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal keys (keys sorted)."""
    if len(keys) == 0:
        return np.zeros(0, np.int64)
    idx = np.arange(len(keys))
    starts = np.r_[True, keys[1:] != keys[:-1]]
    return idx - np.maximum.accumulate(np.where(starts, idx, 0))


def _random_parts(ctx: DayContext, counts: np.ndarray) -> list[tuple[TxPart, LogPart]]:
    """The unscheduled transactions: each sender's kinds drawn from its archetype's mix."""
    senders = np.repeat(np.arange(ctx.pop.n), counts)
    cdf = _KIND_CDF[ctx.pop.code[senders]]
    u = ctx.rng.random(len(senders))
    kinds = np.minimum((u[:, None] >= cdf).sum(axis=1), len(Kind) - 1)
    parts = []
    for kind, handler in HANDLERS.items():
        chosen = senders[kinds == kind]
        if len(chosen):
            parts.append(handler(ctx, chosen))
    return parts


def day_start_seconds(config: SimConfig, day: int) -> int:
    """Unix seconds of the UTC midnight that starts `day`."""
    when = config.day_date(day)
    return int(datetime(when.year, when.month, when.day, tzinfo=UTC).timestamp())


def _blocks(config: SimConfig, day: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block numbers and block timestamps (unix seconds) of transactions sent at `t`."""
    start = day_start_seconds(config, day)
    first = ANCHOR_BLOCK + -((ANCHOR_TS - start) // BLOCK_SECONDS)  # ceil division
    first_ts = ANCHOR_TS + (first - ANCHOR_BLOCK) * BLOCK_SECONDS
    offset = np.maximum(start + t - first_ts, 0.0)
    block = first + np.floor(offset / BLOCK_SECONDS).astype(np.int64)
    return block, ANCHOR_TS + (block - ANCHOR_BLOCK) * BLOCK_SECONDS


def _gas(ctx: DayContext, tx: TxPart, failed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gas limit, gas used): transfers exactly 21000; calls get headroom; failures burn part
    or all of their limit."""
    rng, m = ctx.rng, len(tx.sender)
    headroom = np.ceil(tx.gas_used * rng.uniform(1.1, 1.6, m) / 1000) * 1000
    limit = np.where(tx.gas_used == TRANSFER_GAS, TRANSFER_GAS, headroom).astype(np.int64)
    burnt = np.where(rng.random(m) < 0.3, limit, limit * rng.uniform(0.2, 0.9, m)).astype(np.int64)
    return limit, np.where(failed, np.maximum(burnt, TRANSFER_GAS), tx.gas_used)


def gas_level_gwei(config: SimConfig, day: int) -> float:
    """The day's typical gas price in gwei: drifts over weeks and days."""
    ordinal = config.day_date(day).toordinal()
    return float(
        45.0 * np.exp(0.5 * np.sin(2 * np.pi * ordinal / 47.0) + 0.2 * np.sin(ordinal / 5.3))
    )


def _address_column(pop: Population, index: np.ndarray) -> pa.Array:
    valid = index >= 0
    return string_array(pop.addr[np.where(valid, index, 0)], None if valid.all() else valid)


def _contract_column(ctx: DayContext, created: np.ndarray) -> pa.Array:
    """receipt_contract_address: the registered contract, or a fresh address, or NULL."""
    rows = np.zeros((len(created), 42), np.uint8)
    known = created >= 0
    rows[known] = ctx.pop.addr[created[known]]
    fresh = created == -1
    rows[fresh] = random_hex_rows(ctx.rng, int(fresh.sum()), 20)
    return string_array(rows, known | fresh)


def _build(
    ctx: DayContext, config: SimConfig, tx: TxPart, logs: LogPart, base: np.ndarray
) -> dict[str, pa.Table]:
    """Order, number and encode the day's transactions and token transfers."""
    rng, m = ctx.rng, len(tx.sender)
    failed = rng.random(m) < tx.fail_p
    limit, used = _gas(ctx, tx, failed)
    price = np.where(tx.price >= 0, tx.price, ctx.gas_price(m))
    order = np.lexsort((rng.random(m), tx.t))
    block, ts = _blocks(config, ctx.day, tx.t[order])
    sender = tx.sender[order]
    by_sender = np.argsort(sender, kind="stable")
    nonce = np.empty(m, np.int64)
    nonce[by_sender] = base[sender[by_sender]] + _group_rank(sender[by_sender])
    salt = np.uint64(config.seed * 7919 + 1)
    tx_offset = (splitmix64(block.astype(np.uint64) ^ salt) % np.uint64(48)).astype(np.int64)
    hashes = random_hex_rows(rng, m, 32)
    blocks, block_of = np.unique(block, return_inverse=True)
    block_hashes = string_array(keyed_hex_rows(config.seed, blocks, salt=1))
    block_hash = block_hashes.take(pa.array(block_of))
    timestamps = pa.array(ts * 1_000_000, ARROW_TYPES["TIMESTAMPTZ"])
    transactions = pa.table(
        [
            string_array(hashes),
            pa.array(nonce),
            pa.array(_group_rank(block) + tx_offset),
            _address_column(ctx.pop, sender),
            _address_column(ctx.pop, tx.to[order]),
            wei_decimal_array(tx.gwei[order], tx.sub[order]),
            pa.array(limit[order]),
            pa.array(price[order]),
            pa.array(used[order]),
            _contract_column(ctx, tx.created[order]),
            pa.array((~failed[order]).astype(np.int64)),
            pa.array(price[order]),
            timestamps,
            pa.array(block),
            block_hash,
        ],
        schema=TRANSACTIONS_SCHEMA,
    )
    position = np.empty(m, np.int64)
    position[order] = np.arange(m)
    token_transfers = _build_logs(
        ctx, logs, failed, position, hashes, block, timestamps, block_hash
    )
    return {"transactions": transactions, "token_transfers": token_transfers}


def _build_logs(
    ctx: DayContext,
    logs: LogPart,
    failed: np.ndarray,
    position: np.ndarray,
    hashes: np.ndarray,
    block: np.ndarray,
    timestamps: pa.Array,
    block_hash: pa.Array,
) -> pa.Table:
    """Token transfers of the successful transactions, in block order with log indices."""
    pop, tok = ctx.pop, ctx.pop.tokens
    keep = ~failed[logs.tx]
    pos = position[logs.tx[keep]]
    order = np.lexsort((logs.seq[keep], pos))
    pos = pos[order]
    pick = lambda a: a[keep][order]  # noqa: E731
    token = pick(logs.token)
    take = pa.array(pos)
    log_block = block[pos]
    values = token_amount_strings(pick(logs.mantissa), pick(logs.exponent), pick(logs.huge),
                                  HUGE_MINTS)  # fmt: skip
    return pa.table(
        [
            _address_column(pop, tok.account[token]),
            _address_column(pop, pick(logs.frm)),
            _address_column(pop, pick(logs.to)),
            values,
            string_array(hashes[pos]),
            pa.array(_group_rank(log_block)),
            timestamps.take(take),
            pa.array(log_block),
            block_hash.take(take),
            pa.array(tok.name, pa.string()).take(pa.array(token)),
            pa.array(tok.symbol, pa.string()).take(pa.array(token)),
            pa.array(tok.decimals[token], pa.int32()),
        ],
        schema=TOKEN_TRANSFERS_SCHEMA,
    )


def generate_day(config: SimConfig, day: int) -> dict[str, pa.Table]:
    """Transactions and token transfers of simulated day `day` (0-based), in the canonical
    columns; the same (config, day) always gives identical tables, whatever else ran before."""
    if not 0 <= day < config.days:
        raise ValueError(f"day {day} is outside the simulated span [0, {config.days})")
    pop = build_population(config)
    counts = day_counts(pop, config, day)
    base = nonce_base(pop, config, day)
    rng = day_rng(config, day, DETAILS_STREAM)
    ctx = DayContext(pop, day, rng, gas_level_gwei(config, day))
    parts = planned_parts(ctx, schedule(pop, day), counts) + _random_parts(ctx, counts.random)
    if not parts:
        return empty_day()
    tx, logs = concat_parts(parts)
    return _build(ctx, config, tx, logs, base)


def empty_day() -> dict[str, pa.Table]:
    """Empty tables with the canonical schemas."""
    return {
        "transactions": TRANSACTIONS_SCHEMA.empty_table(),
        "token_transfers": TOKEN_TRANSFERS_SCHEMA.empty_table(),
    }


def generate_days(config: SimConfig, first: int, stop: int) -> Iterator[dict[str, pa.Table]]:
    """Days [first, stop) clipped to the simulated span, one at a time (memory: one day)."""
    for day in range(max(first, 0), min(stop, config.days)):
        yield generate_day(config, day)
