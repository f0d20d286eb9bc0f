"""The simulated chain as a chain source: the zero-config default that needs no data.

Days are generated on demand, one at a time, and streamed into DuckDB through an Arrow reader, so
memory stays bounded by one simulated day whatever the window. Labels (a MyEtherWallet-format
darklist with realistic noise) and the address universe (every simulated account) are written to
`work_dir` on request.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from pydantic import Field

from eth_assets.chain.schemas import RawTable
from eth_assets.chain.sim import SimConfig, generate_day, write_accounts, write_darklist
from eth_assets.chain.sim.day import arrow_schema
from eth_assets.common.chain_time import as_utc, start_of_day
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.settings import data_dir

DEFAULTS = SimConfig()
DARKLIST_FILE = "addresses-darklist.json"  # the label reader knows this name: source mew_darklist
ACCOUNTS_FILE = "accounts.csv"


class SimulatedChainSource(ChainSource):
    """A deterministic simulated Ethereum chain (see eth_assets.chain.sim): same settings, same
    bytes."""

    seed: int = Field(default=DEFAULTS.seed, description="Seed of the whole chain.")
    n_accounts: int = Field(default=DEFAULTS.n_accounts, description="Accounts (EOAs + contracts).")
    start_date: str = Field(
        default=DEFAULTS.start_date.isoformat(), description="First simulated UTC day (ISO)."
    )
    days: int = Field(default=DEFAULTS.days, description="Number of simulated days.")
    illicit_share: float = Field(default=DEFAULTS.illicit_share, description="Illicit accounts.")
    label_noise: float = Field(
        default=DEFAULTS.label_noise, description="Share of illicit accounts the darklist misses."
    )
    false_listing_share: float = Field(
        default=DEFAULTS.false_listing_share,
        description="Share of ordinary accounts the darklist wrongly lists.",
    )
    activity: float = Field(
        default=DEFAULTS.activity, description="Multiplier of every account's transaction rate."
    )
    work_dir: str = Field(
        default="", description="Folder for the label and address files (default <data>/sim)."
    )

    def sim_config(self) -> SimConfig:
        """The simulation settings as a SimConfig (validated)."""
        return SimConfig(
            seed=self.seed,
            n_accounts=self.n_accounts,
            start_date=date.fromisoformat(self.start_date),
            days=self.days,
            illicit_share=self.illicit_share,
            label_noise=self.label_noise,
            false_listing_share=self.false_listing_share,
            activity=self.activity,
        )

    def span(self) -> tuple[date, date]:
        """First and last simulated UTC day (inclusive)."""
        config = self.sim_config()
        return config.start_date, config.end_date

    def partition_range(self) -> str:
        """The span as a Dagster `--partition-range` argument, e.g. 2021-01-01...2021-06-29."""
        first, last = self.span()
        return f"{first.isoformat()}...{last.isoformat()}"

    def describe(self) -> str:
        """`simulated:seed=…,accounts=…,span=first..last`, for run metadata."""
        first, last = self.span()
        return (
            f"simulated:seed={self.seed},accounts={self.n_accounts},"
            f"span={first.isoformat()}..{last.isoformat()}"
        )

    def available_days(self) -> tuple[date, date] | None:
        return self.span()

    def holds_complete_histories(self) -> bool:
        """The simulated chain is whole: every address's transactions are in it."""
        return True

    def work_path(self) -> Path:
        """Where this configuration's files go: one sub-folder per distinct configuration."""
        root = Path(self.work_dir).resolve() if self.work_dir else data_dir() / "sim"
        key = hashlib.sha1(repr(self.sim_config()).encode()).hexdigest()[:10]
        return root / f"seed{self.seed}-{key}"

    def days_in(self, start: datetime, end: datetime) -> range:
        """Indices of the simulated days that overlap [start, end)."""
        config = self.sim_config()
        origin = start_of_day(config.start_date)
        first = math.floor((as_utc(start) - origin).total_seconds() / 86400)
        stop = math.ceil((as_utc(end) - origin).total_seconds() / 86400)
        return range(max(first, 0), min(stop, config.days))

    def stage(
        self, con: duckdb.DuckDBPyConnection, table: RawTable, start: datetime, end: datetime
    ) -> tuple[str, dict[str, object]]:
        """Stream the simulated days overlapping [start, end) into `con` as an Arrow reader, one
        day in memory at a time (the lake filters rows to the exact window)."""
        config = self.sim_config()
        days = self.days_in(start, end)
        schema = arrow_schema(table)

        def batches() -> Iterator[pa.RecordBatch]:
            for day in days:
                yield from generate_day(config, day)[table.name].to_batches()

        name = f"simulated_{table.name}"
        con.register(name, pa.RecordBatchReader.from_batches(schema, batches()))
        span = (
            f"{config.day_date(days[0]).isoformat()}..{config.day_date(days[-1]).isoformat()}"
            if days
            else ""
        )
        return name, {"simulated_days": len(days), "simulated_span": span, "seed": self.seed}

    def default_label_files(self) -> list[str]:
        """The simulated darklist (MyEtherWallet JSON format), written to the work folder."""
        return [str(write_darklist(self.sim_config(), self.work_path() / DARKLIST_FILE))]

    def default_address_file(self) -> tuple[str, str | None] | None:
        """Every simulated account (address, archetype, is_illicit): the whole universe."""
        return str(write_accounts(self.sim_config(), self.work_path() / ACCOUNTS_FILE)), None
