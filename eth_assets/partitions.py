"""Partitioning shared by the raw assets: one partition per UTC block day since genesis."""

from dagster import DailyPartitionsDefinition

ETHEREUM_GENESIS_DATE = "2015-07-30"

daily_partitions = DailyPartitionsDefinition(start_date=ETHEREUM_GENESIS_DATE, timezone="UTC")
