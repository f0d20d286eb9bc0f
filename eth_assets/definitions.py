"""The eth_assets code location: one Definitions with every asset, check, job and resource."""

from dagster import Definitions, load_assets_from_modules, multiprocess_executor

from eth_assets import checks
from eth_assets.assets import (
    analysis,
    benchmarks,
    classifier,
    datasets,
    evaluations,
    exposure,
    features,
    illicit_type,
    labels,
    profiles,
    raw,
    scores,
)
from eth_assets.maintenance import compact_lake_job
from eth_assets.resources import build_resources
from eth_assets.schedules import full_refresh_job, nightly_refresh_schedule, refresh_job
from eth_assets.sensors import label_files_sensor, label_refresh_job

# DuckDB allows one writer per file: steps tagged `storage: duckdb` run one at a time, the rest
# (extracts, model fitting) in parallel on the two cores.
executor = multiprocess_executor.configured(
    {
        "max_concurrent": 2,
        "tag_concurrency_limits": [{"key": "storage", "value": "duckdb", "limit": 1}],
        # Every step is a process: forked from a server that has loaded the code location
        # once, instead of each step importing it again (about 2 s per step).
        "start_method": {"forkserver": {"preload_modules": ["eth_assets.definitions"]}},
    }
)

defs = Definitions(
    assets=load_assets_from_modules(
        [
            raw,
            labels,
            features,
            exposure,
            datasets,
            analysis,
            profiles,
            classifier,
            illicit_type,
            scores,
            benchmarks,
            evaluations,
        ]
    ),
    asset_checks=checks.all_checks(),
    jobs=[refresh_job, full_refresh_job, label_refresh_job, compact_lake_job],
    schedules=[nightly_refresh_schedule],
    sensors=[label_files_sensor],
    resources=build_resources(),
    executor=executor,
)
