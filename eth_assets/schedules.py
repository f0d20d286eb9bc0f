"""Jobs and the nightly schedule."""

from __future__ import annotations

import os

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from eth_assets.partitions import daily_partitions

SCHEDULE_RUNNING_ENV = "ETH_ASSETS_NIGHTLY_SCHEDULE"

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
        if os.environ.get(SCHEDULE_RUNNING_ENV, "").lower() in {"1", "true", "on", "running"}
        else DefaultScheduleStatus.STOPPED
    ),
)
