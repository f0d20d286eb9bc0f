"""Illicit-address labels, read from label lists in their own formats."""

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

from eth_assets.assets.metadata import markdown_table
from eth_assets.label_files import read_label_files
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.lake import ParquetLake
from eth_assets.settings import LABEL_FILES_ENV, label_files

MAX_REJECTIONS_SHOWN = 1000


class IllicitLabelsConfig(Config):
    """Which label files to read (MEW darklist JSON, EtherScamDB/CryptoScamDB YAML, CSV)."""

    files: list[str] = Field(
        default=[],
        description=(
            "Label files to read; the format is detected from each file. Empty: the files in "
            f"${LABEL_FILES_ENV}, else the chain source's own labels (the shared lists for real "
            "data)."
        ),
    )


# The single-run policy lets one `--partition-range` command include this unpartitioned asset.
@asset(group_name="labels", kinds={"parquet"}, backfill_policy=BackfillPolicy.single_run())
def illicit_labels(
    context: AssetExecutionContext,
    config: IllicitLabelsConfig,
    lake: ParquetLake,
    chain_source: ChainSource,
) -> MaterializeResult:
    """Validated, lower-cased illicit addresses with source and category; rejected entries kept."""
    files = config.files or label_files() or chain_source.default_label_files()
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"label files not found: {', '.join(missing)} (set {LABEL_FILES_ENV} or the asset's "
            "`files` config)"
        )
    parsed = read_label_files(files)
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
            "files": MetadataValue.json(files),
            "per_source": MetadataValue.md(markdown_table(per_source)),
            "rejected_entries": parsed.rejected.height,
            "rejected_by_reason": MetadataValue.md(markdown_table(rejected_by_reason)),
            "rejected": MetadataValue.md(
                markdown_table(shown)
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
