"""Illicit-address labels, read from label lists in their own formats."""

import os
from pathlib import Path

import polars as pl
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from eth_assets.label_files import read_label_files
from eth_assets.resources.lake import ParquetLake
from eth_assets.settings import shared_data_dir

LABEL_FILES_ENV = "ETH_ASSETS_LABEL_FILES"
DEFAULT_LABEL_FILES = (
    "mew_addresses-darklist.json",
    "etherscamdb_scams.yaml",
    "cryptoscamdb_urls.yaml",
    "etherscan_phish_hack_labels.csv",
)
MAX_REJECTIONS_SHOWN = 1000


def default_label_files() -> list[str]:
    """$ETH_ASSETS_LABEL_FILES (os.pathsep-separated) or the four lists in <shared>/labels."""
    configured = os.environ.get(LABEL_FILES_ENV)
    if configured:
        return [p for p in configured.split(os.pathsep) if p]
    return [str(shared_data_dir() / "labels" / name) for name in DEFAULT_LABEL_FILES]


class IllicitLabelsConfig(Config):
    """Which label files to read (MEW darklist JSON, EtherScamDB/CryptoScamDB YAML, CSV)."""

    files: list[str] = Field(
        default_factory=default_label_files,
        description="Label files to read; the format is detected from each file.",
    )


def _markdown_table(frame: pl.DataFrame) -> str:
    """A Markdown table of a small frame, for asset metadata."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
        for row in frame.iter_rows()
    ]
    return "\n".join([header, rule, *rows])


# The single-run policy lets one `--partition-range` command include this unpartitioned asset.
@asset(group_name="labels", kinds={"parquet"}, backfill_policy=BackfillPolicy.single_run())
def illicit_labels(
    context: AssetExecutionContext, config: IllicitLabelsConfig, lake: ParquetLake
) -> MaterializeResult:
    """Validated, lower-cased illicit addresses with source and category; rejected entries kept."""
    missing = [f for f in config.files if not Path(f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"label files not found: {', '.join(missing)} (set {LABEL_FILES_ENV} or the asset's "
            "`files` config)"
        )
    parsed = read_label_files(config.files)
    labels_bytes = lake.write_table("illicit_labels", parsed.labels.to_arrow())
    lake.write_table("illicit_labels_rejected", parsed.rejected.to_arrow())
    per_source = (
        parsed.labels.group_by("source")
        .agg(pl.len().alias("rows"), pl.col("address").n_unique().alias("unique_addresses"))
        .sort("source")
    )
    rejected_by_reason = (
        parsed.rejected.group_by("reason").agg(pl.len().alias("entries")).sort("reason")
    )
    shown = parsed.rejected.head(MAX_REJECTIONS_SHOWN)
    context.log.info(
        f"{parsed.labels.height} label rows, {parsed.rejected.height} rejected entries"
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": parsed.labels.height,
            "unique_addresses": parsed.labels["address"].n_unique(),
            "files": MetadataValue.json(config.files),
            "per_source": MetadataValue.md(_markdown_table(per_source)),
            "rejected_entries": parsed.rejected.height,
            "rejected_by_reason": MetadataValue.md(_markdown_table(rejected_by_reason)),
            "rejected": MetadataValue.md(
                _markdown_table(shown)
                + (
                    f"\n\n(first {MAX_REJECTIONS_SHOWN} of {parsed.rejected.height}; all are in "
                    f"{lake.table_path('illicit_labels_rejected')})"
                    if parsed.rejected.height > MAX_REJECTIONS_SHOWN
                    else ""
                )
            ),
            "bytes": labels_bytes,
            "path": MetadataValue.path(str(lake.table_path("illicit_labels"))),
        }
    )
