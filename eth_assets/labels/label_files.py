"""Read illicit-address label lists in their own formats into one validated table.

Formats (detected from the file, or named with `fmt`):

- `mew_darklist`: MyEtherWallet darklist JSON, an array of {address, comment, date}. The list has
  no category field, so category is "darklist"; name = comment; date = date.
- `etherscamdb`: EtherScamDB YAML, a list of {id, name, url, coin, category, subcategory,
  addresses: [...]}. The `coin` field names the scam's headline coin, not each address: entries
  with coin ETH list BTC/TRX/XRP addresses and entries with coin BTC list 0x addresses. So every
  string shaped like an Ethereum address (starting with 0x, or 40 bare hex digits) is read whatever
  the coin, and other strings are other chains' addresses, skipped without a rejection.
- `cryptoscamdb`: CryptoScamDB YAML, a list of {name, url, category, subcategory,
  addresses: {ETH: [...], BTC: [...], ...}}. Only the ETH list is read, and everything in it must
  be an Ethereum address; other coins' lists are other chains, not rejections.
- `csv`: any CSV with an `address` column (header matched case-insensitively). The optional
  columns source, category, subcategory, name (or "Name Tag") and date are used when present; a
  row's own source cell wins over the file's source. Category defaults per source (see
  DEFAULT_CATEGORIES, e.g. "phish-hack" for the Etherscan dump), else "unspecified".

Detection: .json is a MEW darklist; .yaml/.yml is EtherScamDB when `addresses` are lists and
CryptoScamDB when they are mappings; .csv is CSV. Every address goes through
eth_assets.common.addresses (trimmed, lower-cased, EIP-55 verified when mixed-case). Invalid
addresses
are never dropped silently: each becomes a rejection record naming the file, source, entry,
raw value and reason. An entry is named "item N (name)" (N counts entries from 1), "id N (name)"
for EtherScamDB, or "line N (name)" for CSV. Empty text fields become null.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from eth_assets.common.addresses import address_problem, normalize_address

LABEL_COLUMNS = ["address", "source", "category", "subcategory", "name", "date"]
REJECTED_COLUMNS = ["file", "source", "entry", "value", "reason"]
FORMATS = ("mew_darklist", "etherscamdb", "cryptoscamdb", "csv")

# Short, stable source names for the known files (the `source` values of
# illicit_addresses_union.csv); any other file is named by its stem.
KNOWN_SOURCES = {
    "mew_addresses-darklist": "mew_darklist",
    "addresses-darklist": "mew_darklist",  # the upstream MyEtherWallet file name
    "etherscamdb_scams": "etherscamdb",
    "cryptoscamdb_urls": "cryptoscamdb",
    "etherscan_phish_hack_labels": "etherscan_phish_hack",
}
# Category for rows whose list says nothing about the kind of scam.
DEFAULT_CATEGORIES = {"mew_darklist": "darklist", "etherscan_phish_hack": "phish-hack"}
UNSPECIFIED_CATEGORY = "unspecified"
MEW_CATEGORY = "darklist"

_CSV_COLUMN_ALIASES = {
    "address": ("address",),
    "source": ("source",),
    "category": ("category",),
    "subcategory": ("subcategory",),
    "name": ("name", "name tag", "name_tag"),
    "date": ("date",),
}
_BARE_HEX_ADDRESS = re.compile(r"[0-9a-fA-F]{40}")
_SCHEMA_LABELS = dict.fromkeys(LABEL_COLUMNS, pl.Utf8)
_SCHEMA_REJECTED = dict.fromkeys(REJECTED_COLUMNS, pl.Utf8)

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TextLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe YAML loader (C-accelerated when available) that keeps every scalar as text except null.

    YAML 1.1 would read an unquoted 0x... as an integer (losing case and leading zeros) and dates
    as date objects; the label lists are text, so only null is resolved implicitly.
    """


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


@dataclass
class ParsedLabels:
    """Valid labels (LABEL_COLUMNS) and rejected entries (REJECTED_COLUMNS), all Utf8."""

    labels: pl.DataFrame
    rejected: pl.DataFrame


@dataclass
class _Collector:
    """Accumulates label rows and rejection records for one file."""

    file: str
    source: str
    labels: list[tuple[str | None, ...]] = field(default_factory=list)
    rejected: list[tuple[str | None, ...]] = field(default_factory=list)

    def add(self, value: object, entry: str, **fields: str | None) -> None:
        """Validate one address; keep it as a label row or record why it was rejected."""
        problem = "missing address" if value is None else address_problem(value)
        if problem is not None:
            self.reject_entry(entry, value, problem)
            return
        source = fields.get("source") or self.source
        row = {
            **fields,
            "address": normalize_address(str(value)),
            "source": source,
            "category": fields.get("category")
            or DEFAULT_CATEGORIES.get(source, UNSPECIFIED_CATEGORY),
        }
        self.labels.append(tuple(row.get(column) for column in LABEL_COLUMNS))

    def reject_entry(self, entry: str, value: object, reason: str) -> None:
        """Record an entry whose structure is wrong, so it is reported rather than lost."""
        shown = value if isinstance(value, str) or value is None else repr(value)
        self.rejected.append((self.file, self.source, entry, shown, reason))

    def result(self) -> ParsedLabels:
        """The collected rows as ParsedLabels (labels de-duplicated and sorted)."""
        labels = pl.DataFrame(self.labels, schema=_SCHEMA_LABELS, orient="row")
        rejected = pl.DataFrame(self.rejected, schema=_SCHEMA_REJECTED, orient="row")
        return ParsedLabels(_tidy_labels(labels), rejected)


def _tidy_labels(labels: pl.DataFrame) -> pl.DataFrame:
    """De-duplicate on all columns and sort by address, source (then the rest, for stability)."""
    return labels.unique().sort(LABEL_COLUMNS, nulls_last=True)


def _text(value: object) -> str | None:
    """A field as trimmed text, or None when missing or blank."""
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    return text or None


def _entry(label: str, name: str | None) -> str:
    """How a rejection names its entry: position or id, plus the entry's name when it has one."""
    return f"{label} ({name})" if name else label


def default_source(path: str | Path) -> str:
    """The source name for a file: the short name of a known list, else the file stem."""
    stem = Path(path).stem
    return KNOWN_SOURCES.get(stem, stem)


def _read_text(path: Path) -> str:
    """The file's text; unreadable or non-UTF-8 files raise a ValueError naming the file."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"cannot read label file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"label file {path} is not UTF-8 text: {exc}") from exc


def _load_json(path: Path) -> Any:
    """Parsed JSON, with syntax errors reported as ValueError naming the file."""
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise ValueError(f"label file {path} is not valid JSON: {exc}") from exc


def _load_yaml(path: Path) -> Any:
    """Parsed YAML (scalars kept as text), with syntax errors reported as ValueError."""
    try:
        return yaml.load(_read_text(path), Loader=_TextLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"label file {path} is not valid YAML: {exc}") from exc


def _require_list(data: Any, path: Path, expected: str) -> list[Any]:
    """The top-level list of a JSON/YAML label file, or a ValueError saying what was found."""
    if not isinstance(data, list):
        found = "empty file" if data is None else type(data).__name__
        raise ValueError(f"label file {path} is not {expected}: top level is {found}, not a list")
    return data


def _scam_db_format(entries: list[Any], path: Path) -> str:
    """EtherScamDB when `addresses` are lists, CryptoScamDB when they are mappings."""
    shapes = {
        type(entry.get("addresses")).__name__
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("addresses"), list | dict)
    }
    if shapes == {"dict"}:
        return "cryptoscamdb"
    if shapes <= {"list"}:  # also when no entry has addresses: nothing to read either way
        return "etherscamdb"
    raise ValueError(
        f"label file {path}: cannot tell EtherScamDB from CryptoScamDB, `addresses` values are "
        f"{sorted(shapes)}; pass fmt='etherscamdb' or fmt='cryptoscamdb'"
    )


def _format_from_extension(path: Path) -> str:
    """The format a file's extension implies; "scamdb" means YAML whose content decides which."""
    suffix = path.suffix.lower()
    by_suffix = {".json": "mew_darklist", ".yaml": "scamdb", ".yml": "scamdb", ".csv": "csv"}
    if suffix not in by_suffix:
        raise ValueError(
            f"unknown label file format for {path} (extension {suffix or 'none'!r}); "
            f"pass fmt= one of {', '.join(FORMATS)}"
        )
    return by_suffix[suffix]


def _parse_mew(data: Any, path: Path, out: _Collector) -> None:
    """MyEtherWallet darklist: one label per {address, comment, date} object."""
    items = _require_list(data, path, "a MEW darklist (a JSON array of {address, comment, date})")
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            out.reject_entry(f"item {number}", item, "entry is not an object")
            continue
        name = _text(item.get("comment"))
        out.add(
            item.get("address"),
            _entry(f"item {number}", name),
            category=MEW_CATEGORY,
            name=name,
            date=_text(item.get("date")),
        )


def _scam_fields(entry: dict[str, Any]) -> dict[str, str | None]:
    """The label fields shared by EtherScamDB and CryptoScamDB entries."""
    return {
        "category": _text(entry.get("category")),
        "subcategory": _text(entry.get("subcategory")),
        "name": _text(entry.get("name")),
    }


def _looks_ethereum(value: object) -> bool:
    """In a mixed-chain address list, whether a value is meant as an Ethereum address."""
    if not isinstance(value, str):
        return True  # not text at all: report it rather than guess a chain
    text = value.strip()
    return text[:2].lower() == "0x" or bool(_BARE_HEX_ADDRESS.fullmatch(text))


def _scam_entries(data: Any, path: Path, out: _Collector) -> Iterator[tuple[int, dict[str, Any]]]:
    """Number and entry for each mapping in a scam database; other items become rejections."""
    for number, entry in enumerate(_require_list(data, path, "a scam database"), start=1):
        if isinstance(entry, dict):
            yield number, entry
        else:
            out.reject_entry(f"item {number}", entry, "entry is not a mapping")


def _parse_etherscamdb(data: Any, path: Path, out: _Collector) -> None:
    """EtherScamDB: the Ethereum-shaped strings of each entry's `addresses` list, any `coin`."""
    for number, entry in _scam_entries(data, path, out):
        fields = _scam_fields(entry)
        entry_id = _text(entry.get("id"))
        label = _entry(f"id {entry_id}" if entry_id else f"item {number}", fields["name"])
        addresses = entry.get("addresses")
        if addresses is None:
            continue
        if not isinstance(addresses, list):
            out.reject_entry(label, addresses, "addresses is not a list")
            continue
        for value in addresses:
            if _looks_ethereum(value):
                out.add(value, label, **fields)


def _parse_cryptoscamdb(data: Any, path: Path, out: _Collector) -> None:
    """CryptoScamDB: every value of each entry's `addresses.ETH` list; other coins are skipped."""
    for number, entry in _scam_entries(data, path, out):
        fields = _scam_fields(entry)
        label = _entry(f"item {number}", fields["name"])
        addresses = entry.get("addresses")
        if addresses is None:
            continue
        if not isinstance(addresses, dict):
            out.reject_entry(label, addresses, "addresses is not a mapping of coin to list")
            continue
        eth = addresses.get("ETH")
        if eth is None:
            continue
        if not isinstance(eth, list):
            out.reject_entry(label, eth, "addresses.ETH is not a list")
            continue
        for value in eth:
            out.add(value, label, **fields)


def _csv_columns(header: list[str], path: Path) -> dict[str, int]:
    """Position of each known column in a CSV header (case-insensitive); address is required."""
    names = [name.strip().lower() for name in header]
    positions: dict[str, int] = {}
    for column, aliases in _CSV_COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in names and column not in positions:
                positions[column] = names.index(alias)
    if "address" not in positions:
        raise ValueError(f"label file {path} has no 'address' column (header: {header})")
    return positions


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Line number and cells of each non-blank CSV row, header first. A quoted cell running
    over several lines (an unbalanced quote, which would swallow the rows after it) rejects the
    file, naming the line it starts on."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            previous_line = 0
            for row in reader:
                first_line = previous_line + 1
                previous_line = reader.line_num
                if any("\n" in cell or "\r" in cell for cell in row):
                    raise ValueError(
                        f"label file {path}: line {first_line} opens a quoted cell that runs "
                        f"to line {reader.line_num} (an unbalanced quote?); lines "
                        f"{first_line}-{reader.line_num} would be read as one row. Fix the "
                        "quote; no row of this file was used"
                    )
                if any(cell.strip() for cell in row):
                    yield reader.line_num, row
    except OSError as exc:
        raise ValueError(f"cannot read label file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"label file {path} is not UTF-8 text: {exc}") from exc
    except csv.Error as exc:
        raise ValueError(f"label file {path} is not valid CSV: {exc}") from exc


def _parse_csv(path: Path, out: _Collector) -> None:
    """A CSV with an address column and optional source/category/subcategory/name/date."""
    rows = _csv_rows(path)
    first = next(rows, None)
    if first is None:
        raise ValueError(f"label file {path} is empty (no CSV header)")
    positions = _csv_columns(first[1], path)
    for line, row in rows:
        cells = {
            column: row[index] if index < len(row) else None for column, index in positions.items()
        }
        name = _text(cells.get("name"))
        out.add(
            cells["address"],
            _entry(f"line {line}", name),
            **{column: _text(cells.get(column)) for column in LABEL_COLUMNS[1:]},
        )


def _parse_document(path: Path, fmt: str, out: _Collector) -> None:
    """Load a JSON/YAML list (JSON by extension, else YAML) and parse it as `fmt`."""
    data = _load_json(path) if path.suffix.lower() == ".json" else _load_yaml(path)
    if fmt == "scamdb":
        fmt = _scam_db_format(_require_list(data, path, "a scam database"), path)
    parsers = {
        "mew_darklist": _parse_mew,
        "etherscamdb": _parse_etherscamdb,
        "cryptoscamdb": _parse_cryptoscamdb,
    }
    parsers[fmt](data, path, out)


def read_label_file(
    path: str | Path, source: str | None = None, fmt: str | None = None
) -> ParsedLabels:
    """Read one label list, validating every address; `fmt` overrides detection, `source` the name.

    Raises ValueError naming the file for an unknown format or an unreadable or malformed file.
    """
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(
            f"unknown label format {fmt!r} for {path}; use one of {', '.join(FORMATS)}"
        )
    chosen = fmt or _format_from_extension(path)
    out = _Collector(file=str(path), source=source or default_source(path))
    if chosen == "csv":
        _parse_csv(path, out)
    else:
        _parse_document(path, chosen, out)
    return out.result()


def read_label_files(paths: Sequence[str | Path]) -> ParsedLabels:
    """Read several label lists into one table (de-duplicated, sorted); rejections in file order."""
    parsed = [read_label_file(path) for path in paths]
    labels = pl.concat(
        [pl.DataFrame(schema=_SCHEMA_LABELS), *(p.labels for p in parsed)], how="vertical"
    )
    rejected = pl.concat(
        [pl.DataFrame(schema=_SCHEMA_REJECTED), *(p.rejected for p in parsed)], how="vertical"
    )
    return ParsedLabels(_tidy_labels(labels), rejected)
