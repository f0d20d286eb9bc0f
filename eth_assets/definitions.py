"""The eth_assets code location: one Definitions with every asset, check, job and resource."""

# ruff: noqa: E402  (the warning filter must be in place before the asset modules load)
import warnings

from dagster import BetaWarning, PreviewWarning

# Our own decorators use beta and preview parameters (`backfill_policy`, …) on purpose: without
# this, every CLI run and every step process prints the same warning once per asset.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

from dagster import Definitions, load_assets_from_modules, multiprocess_executor

from eth_assets.features import feature_assets, reference_assets, state_assets
from eth_assets.labels import label_assets
from eth_assets.lake import raw_assets
from eth_assets.lake.maintenance import compact_lake_job
from eth_assets.models import (
    analysis_assets,
    classifier_assets,
    dataset_assets,
    evaluation_assets,
    illicit_type_assets,
    profile_assets,
)
from eth_assets.orchestration import asset_checks
from eth_assets.orchestration.schedules import (
    full_refresh_job,
    nightly_refresh_schedule,
    refresh_job,
)
from eth_assets.orchestration.sensors import label_files_sensor, label_refresh_job
from eth_assets.resources import build_resources
from eth_assets.scores import exposure_assets, score_assets

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
            raw_assets,
            label_assets,
            feature_assets,
            state_assets,
            exposure_assets,
            dataset_assets,
            analysis_assets,
            profile_assets,
            classifier_assets,
            illicit_type_assets,
            score_assets,
            reference_assets,
            evaluation_assets,
        ]
    ),
    asset_checks=asset_checks.all_checks(),
    jobs=[refresh_job, full_refresh_job, label_refresh_job, compact_lake_job],
    schedules=[nightly_refresh_schedule],
    sensors=[label_files_sensor],
    resources=build_resources(),
    executor=executor,
)
