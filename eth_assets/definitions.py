"""The eth_assets code location: one Definitions with every asset, check, job and resource."""

from dagster import Definitions, load_assets_from_modules

from eth_assets import checks
from eth_assets.assets import labels, raw
from eth_assets.resources import build_resources
from eth_assets.schedules import nightly_refresh_schedule, refresh_job

defs = Definitions(
    assets=load_assets_from_modules([raw, labels]),
    asset_checks=checks.all_checks(),
    jobs=[refresh_job],
    schedules=[nightly_refresh_schedule],
    resources=build_resources(),
)
