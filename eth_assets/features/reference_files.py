"""Published per-account feature files (Farrugia et al.'s Complete.csv, the Kaggle Ethereum fraud
dataset) read with their known traps handled, so a model on them measures behaviour and not how
the file was assembled.

The traps (verified on the files; ../shared/README.md):
- the Kaggle file is sorted by class and its `Index` restarts per class: `Index` and any unnamed
  row-number column are identifiers and row order, never features;
- 25 addresses repeat: repeats with the same label are dropped, addresses whose repeats carry
  different labels are dropped altogether;
- "no token activity" is 0 for normal accounts but an empty cell for illicit ones (that encoding
  alone separates the classes with 0.986 accuracy): every empty numeric cell is read as 0;
- the two token-name columns carry the same leak ("0" against empty): every "no token" spelling
  becomes NULL, which the cleaning turns into one level;
- seven ERC-20 columns are constant: the cleaning drops them (its report says so);
- the token most received by 779 of Complete.csv's 2,179 illicit accounts is "Blockwell say
  NOTSAFU", a label-broadcast token (labels airdropped onto listed addresses): the names of
  those tokens are masked as no token. Their transfers still sit inside the numeric ERC-20
  columns, which a feature file cannot undo; address_features leaves them out at the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from eth_assets.features.feature_tables import CATEGORICAL_COLUMNS, PUBLISHED_NAMES

NO_TOKEN_SPELLINGS = {"", "0", "none", "nan", "null"}
# The names of the default label-broadcast tokens (settings.DEFAULT_LABEL_BROADCAST_TOKENS).
LABEL_BROADCAST_TOKEN_NAMES = ("Blockwell say NOTSAFU", "SCAM Seal Token", "SCAM Stamp Token")


def normal_name(name: str) -> str:
    """A header reduced to lower-case words joined by `_` (the files spell them differently)."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


# normalised published header → our column name
HEADER_TO_COLUMN = {normal_name(theirs): ours for ours, theirs in PUBLISHED_NAMES.items()}


@dataclass(frozen=True)
class PublishedData:
    """The file's accounts (address + our feature names), their labels and what was done."""

    frame: pl.DataFrame
    labels: np.ndarray
    report: list[tuple[str, str]]  # (trap, what was done)


def read_published_features(
    path: Path, masked_token_names: tuple[str, ...] = LABEL_BROADCAST_TOKEN_NAMES
) -> PublishedData:
    """A published feature file as features, labels and a report of every trap handled;
    token names in `masked_token_names` (label-broadcast tokens) read as no token."""
    if not path.is_file():
        raise FileNotFoundError(f"published feature file {str(path)!r} does not exist")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    headers = {column: normal_name(column) for column in raw.columns}
    by_name = {normal: column for column, normal in headers.items()}
    for needed in ("address", "flag"):
        if needed not in by_name:
            raise ValueError(f"{path}: no `{needed}` column among {list(raw.columns)}")
    report: list[tuple[str, str]] = []
    identifiers = sorted({c for c, n in headers.items() if n in ("index", "") or "unnamed" in n})
    if identifiers:
        report.append(("row numbers", f"columns {identifiers} dropped (identifier, row order)"))
    flags = raw[by_name["flag"]].str.strip()
    bad = sorted(set(flags) - {"0", "1"})
    if bad:
        raise ValueError(f"{path}: column FLAG holds {bad[:5]}; expected 0 or 1")
    frame = pd.DataFrame(
        {
            "address": raw[by_name["address"]].str.strip().str.lower(),
            "label": flags.astype(int),
        }
    )
    found = [(column, ours) for column, n in headers.items() if (ours := HEADER_TO_COLUMN.get(n))]
    blanks = {0: 0, 1: 0}
    masked = {0: 0, 1: 0}
    for column, ours in found:
        text = raw[column].str.strip()
        if ours in CATEGORICAL_COLUMNS:
            label_token = text.isin(masked_token_names)
            for label in (0, 1):
                masked[label] += int((label_token & (frame["label"] == label)).sum())
            none = text.str.lower().isin(NO_TOKEN_SPELLINGS) | label_token
            frame[ours] = text.where(~none, None)
            continue
        empty = text == ""
        for label in (0, 1):
            blanks[label] += int((empty & (frame["label"] == label)).sum())
        frame[ours] = pd.to_numeric(text.where(~empty, "0"), errors="coerce")
    report.append(
        (
            "empty cells",
            f"{blanks[1]:,} empty numeric cells in illicit rows and {blanks[0]:,} in normal rows "
            "read as 0 (the file writes 'no token activity' as empty for illicit accounts only)",
        )
    )
    report.append(
        ("token names", "'0', empty, 'None' and 'nan' token names read as no token (one level)")
    )
    report.append(
        (
            "label-broadcast token names",
            f"{masked[1]:,} token-name cells of illicit rows and {masked[0]:,} of normal rows "
            f"named {', '.join(masked_token_names)}: read as no token",
        )
    )
    repeated = frame["address"].duplicated(keep=False)
    conflicting = frame[repeated].groupby("address")["label"].nunique()
    conflicting = set(conflicting[conflicting > 1].index)
    conflicting_rows = int(frame["address"].isin(conflicting).sum())
    before = len(frame)
    frame = frame[~frame["address"].isin(conflicting)].drop_duplicates("address", keep="first")
    report.append(
        (
            "repeated addresses",
            f"{before - len(frame) - conflicting_rows:,} repeats dropped; {len(conflicting):,} "
            f"addresses with conflicting labels ({conflicting_rows:,} rows) left out",
        )
    )
    frame = frame.sort_values("address").reset_index(drop=True)
    labels = frame.pop("label").to_numpy().astype(int)
    return PublishedData(pl.from_pandas(frame), labels, report)
