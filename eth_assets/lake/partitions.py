"""Partitioning shared by the raw assets: one partition per UTC block day since genesis."""

from dagster import DailyPartitionsDefinition

from eth_assets.common.chain_time import GENESIS_DATE

daily_partitions = DailyPartitionsDefinition(start_date=GENESIS_DATE.isoformat(), timezone="UTC")
