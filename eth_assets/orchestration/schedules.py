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

from eth_assets.lake.partitions import daily_partitions
from eth_assets.settings import nightly_schedule_running

# Evaluations on other labelled sets (eth_assets/models/evaluation_assets.py): they read external
# folders and run on demand, like the benchmarks.
ON_DEMAND_EVALUATIONS = ("era_matched_evaluation", "out_of_time_evaluation")
# Every asset of the graph, raw extracts to published scores, but the benchmarks and the
# on-demand evaluations: they read external files.
GRAPH_SELECTION = (
    AssetSelection.all()
    - AssetSelection.groups("benchmarks")
    - AssetSelection.assets(*ON_DEMAND_EVALUATIONS)
)

# The same assets, as the README's `dagster asset materialize --select` writes them.
GRAPH_SELECT_ARGUMENT = "*address_scores,*tsne_embedding,*model_comparison"

refresh_job = define_asset_job(
    name="refresh",
    selection=GRAPH_SELECTION,
    partitions_def=daily_partitions,
    description=(
        "One day's raw extracts and everything downstream of them, scores included (the "
        "benchmarks aside): what the nightly schedule launches, for yesterday."
    ),
)

full_refresh_job = define_asset_job(
    name="full_refresh",
    selection=GRAPH_SELECTION,
    partitions_def=daily_partitions,
    description=(
        "Every asset of the graph but the benchmarks, over a range of days given at launch, in "
        "one run (every asset has a single-run backfill policy). From a shell: `dagster job "
        "execute -m eth_assets.definitions -j full_refresh --tags "
        '\'{"dagster/asset_partition_range_start": "2021-01-01", '
        '"dagster/asset_partition_range_end": "2021-06-29"}\'`, or the same assets with '
        "`dagster asset materialize -m eth_assets.definitions --select "
        f"'{GRAPH_SELECT_ARGUMENT}' --partition-range 2021-01-01...2021-06-29`. In the UI: "
        "this job's Launchpad with those two tags, or Materialize all with a partition range "
        "as a single run."
    ),
)

nightly_refresh_schedule = build_schedule_from_partitioned_job(
    refresh_job,
    name="nightly_refresh",
    description=(
        "At 02:15 UTC, yesterday's raw partition (the last complete UTC day) and everything "
        "downstream of it, scores included."
    ),
    # 02:15 UTC: Dagster takes a time-partitioned job's schedule time zone from its partitions
    # (daily_partitions: timezone="UTC") and refuses an execution_timezone argument here, so
    # schedule and partitions cannot disagree; a test checks the schedule's zone.
    hour_of_day=2,
    minute_of_hour=15,
    default_status=(
        DefaultScheduleStatus.RUNNING
        if nightly_schedule_running()
        else DefaultScheduleStatus.STOPPED
    ),
)
