"""Which source each stored table came from, and the check that no step mixes sources.

A source is named as the chain source describes itself (`simulated:seed=42,…`,
`parquet:/data/raw_txns`, `bigquery:project.dataset`). Lake day files and the label table carry
it in their Parquet footer (written with the data, atomically); warehouse tables carry it in a
key/value provenance table written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Key of the Parquet footer entry naming the source a file's rows came from.
SOURCE_KEY = "eth_assets_source"
# What a file written before sources were recorded reports.
UNRECORDED = "unrecorded"


# A table's source, or a raw table's days by source; None when nothing was recorded.
SourceOfPart = str | dict[str, list[date]] | None


class SourceMixError(ValueError):
    """A step would combine data of different sources; the message names each."""


def with_source(table: pa.Table, source: str) -> pa.Table:
    """`table` with `source` in its schema metadata (kept in the Parquet footer)."""
    return table.replace_schema_metadata({**(table.schema.metadata or {}), SOURCE_KEY: source})


def file_source(path: Path) -> str | None:
    """The source recorded in a Parquet file's footer; None when none was recorded."""
    meta = pq.read_metadata(path).metadata or {}
    value = meta.get(SOURCE_KEY.encode())
    return value.decode() if value is not None else None


def _days(days: list[date]) -> str:
    first, last = min(days), max(days)
    return f"{len(days)} days, {first.isoformat()}…{last.isoformat()}"


def require_one_source(expected: str, parts: Mapping[str, SourceOfPart]) -> None:
    """Fail naming every part whose source differs from `expected` (the configured chain
    source). A part is a table's source, or a raw table's days by source; None and unrecorded
    days (written before sources were recorded) are accepted."""
    found: list[str] = []
    for name, source in parts.items():
        if source is None:
            continue
        if isinstance(source, str):
            if source not in (expected, UNRECORDED):
                found.append(f"{name} comes from {source}")
            continue
        others = {s: d for s, d in source.items() if s not in (expected, UNRECORDED)}
        found.extend(f"{name} holds {_days(d)} from {s}" for s, d in sorted(others.items()))
    if found:
        raise SourceMixError(
            f"the chain source is {expected}, but " + "; ".join(found) + ". Nothing was "
            "changed. Materialize those assets again from this source (raw days with "
            "`replace_other_source: true`), or use a separate ETH_ASSETS_DATA_DIR per source"
        )
