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

from eth_assets.common.markdown import markdown_table
from eth_assets.labels.label_files import ParsedLabels, read_label_files
from eth_assets.lake.partition_writes import refuse_other_sources
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.resources.parquet_lake import ParquetLake
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
    min_accepted_share: float = Field(
        default=0.5,
        description="Fail (keeping the previous labels) when fewer of the entries read than "
        "this share are valid labels.",
    )
    min_share_of_previous: float = Field(
        default=0.5,
        description="Fail (keeping the previous labels) when the new set has fewer unique "
        "addresses than this share of the previous set's.",
    )
    allow_fewer_labels: bool = Field(
        default=False,
        description="Accept an empty, mostly rejected or much smaller label set anyway.",
    )
    replace_other_source: bool = Field(
        default=False,
        description="Write the labels although the lake holds raw days or labels of another "
        "source (another ETH_ASSETS_SOURCE, Parquet folder or simulated seed). Off: such a run "
        "fails before reading any file and changes nothing.",
    )


def unconfigured_label_files(chain_source: ChainSource) -> list[str]:
    """The files read when the asset's config names none: $ETH_ASSETS_LABEL_FILES, else the
    chain source's own (what the label sensor watches too)."""
    return label_files() or chain_source.default_label_files()


def missing_label_files(files: list[str]) -> str | None:
    """A message naming the label files that do not exist, or None."""
    missing = [f for f in files if not Path(f).is_file()]
    if not missing:
        return None
    return (
        f"label files not found: {', '.join(missing)} (set {LABEL_FILES_ENV} or the "
        "illicit_labels `files` config)"
    )


def label_set_problem(
    accepted: int, rejected: int, unique: int, previous: int | None, config: IllicitLabelsConfig
) -> str | None:
    """Why a new label set (`accepted` label rows, `rejected` entries, `unique` addresses) must
    not replace the stored one of `previous` unique addresses (None when it may)."""
    if config.allow_fewer_labels:
        return None
    if accepted == 0:
        return f"no valid label among {rejected} entries read"
    share = accepted / (accepted + rejected)
    if share < config.min_accepted_share:
        return (
            f"only {accepted} of {accepted + rejected} entries ({share:.0%}) are valid labels, "
            f"below min_accepted_share {config.min_accepted_share:.0%}"
        )
    if previous and unique < config.min_share_of_previous * previous:
        return (
            f"{unique} labelled addresses against {previous} in the stored set, below "
            f"min_share_of_previous {config.min_share_of_previous:.0%}"
        )
    return None


# The single-run policy lets one `--partition-range` command include this unpartitioned asset.
def label_metadata(parsed: ParsedLabels, lake: ParquetLake, labels_bytes: int) -> dict[str, object]:
    """What the Dagster UI shows of a label set: rows, per source, the rejections by reason and
    the first of them, where the tables are."""
    per_source = (
        parsed.labels.group_by("source")
        .agg(pl.len().alias("rows"), pl.col("address").n_unique().alias("unique_addresses"))
        .sort("source")
    )
    rejected_by_reason = (
        parsed.rejected.group_by("reason").agg(pl.len().alias("entries")).sort("reason")
    )
    shown = parsed.rejected.head(MAX_REJECTIONS_SHOWN)
    more = (
        f"\n\n(first {MAX_REJECTIONS_SHOWN} of {parsed.rejected.height}; all are in "
        f"{lake.table_path('illicit_labels_rejected')})"
        if parsed.rejected.height > MAX_REJECTIONS_SHOWN
        else ""
    )
    return {
        "dagster/row_count": parsed.labels.height,
        "unique_addresses": parsed.labels["address"].n_unique(),
        "per_source": MetadataValue.md(markdown_table(per_source)),
        "rejected_entries": parsed.rejected.height,
        "rejected_by_reason": MetadataValue.md(markdown_table(rejected_by_reason)),
        "rejected": MetadataValue.md(markdown_table(shown) + more),
        "bytes": labels_bytes,
        "path": MetadataValue.path(str(lake.table_path("illicit_labels"))),
    }


@asset(group_name="labels", kinds={"parquet"}, backfill_policy=BackfillPolicy.single_run())
def illicit_labels(
    context: AssetExecutionContext,
    config: IllicitLabelsConfig,
    lake: ParquetLake,
    chain_source: ChainSource,
) -> MaterializeResult:
    """Validated, lower-cased illicit addresses with source and category; rejected entries kept."""
    source = chain_source.describe()
    if not config.replace_other_source:
        refuse_other_sources(
            lake.root_path(),
            source,
            "illicit_labels",
            "`replace_other_source: true` in the illicit_labels and raw assets' config to "
            "switch this data dir to it (then rematerialize everything downstream)",
        )
    files = config.files or unconfigured_label_files(chain_source)
    missing = missing_label_files(files)
    if missing:
        raise FileNotFoundError(missing)
    parsed = read_label_files(files)
    unique = parsed.labels["address"].n_unique()
    previous = (
        lake.labelled_addresses().len() if lake.table_path("illicit_labels").is_file() else None
    )
    problem = label_set_problem(
        parsed.labels.height, parsed.rejected.height, unique, previous, config
    )
    if problem:
        reasons = parsed.rejected.group_by("reason").len().sort("len", descending=True).head(3)
        raise ValueError(
            f"label files {', '.join(files)}: {problem}. The stored labels were kept and "
            "nothing downstream ran. Most common rejections: "
            + "; ".join(f"{r} ({n})" for r, n in reasons.iter_rows())
            + ". Fix the files, or set `allow_fewer_labels: true` if the smaller set is right"
        )
    labels_bytes = lake.write_table("illicit_labels", parsed.labels.to_arrow(), source)
    lake.write_table("illicit_labels_rejected", parsed.rejected.to_arrow(), source)
    context.log.info(
        f"{parsed.labels.height} label rows, {parsed.rejected.height} rejected entries"
    )
    return MaterializeResult(
        metadata={
            "chain_source": source,
            "previous_unique_addresses": previous if previous is not None else "none",
            "files": MetadataValue.json(files),
            **label_metadata(parsed, lake, labels_bytes),
        }
    )
