"""Jobs and the nightly schedule.

The schedule's default status is part of its definition, so $ETH_ASSETS_NIGHTLY_SCHEDULE is read
here, when the code location loads (the one setting read at import; see eth_assets.settings).
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from eth_assets.partitions import daily_partitions
from eth_assets.settings import nightly_schedule_running

refresh_job = define_asset_job(
    name="refresh",
    selection=AssetSelection.all(),
    partitions_def=daily_partitions,
    description="Extract a range of days and rebuild everything downstream of it.",
)

nightly_refresh_schedule = build_schedule_from_partitioned_job(
    refresh_job,
    name="nightly_refresh",
    hour_of_day=2,
    minute_of_hour=15,
    default_status=(
        DefaultScheduleStatus.RUNNING
        if nightly_schedule_running()
        else DefaultScheduleStatus.STOPPED
    ),
)
