"""Screening many addresses at once: a CSV (or plain list) in, one report row per line out, with
band, probability, top reasons and exposure, and malformed lines named by their line number."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass

from eth_assets.serve.limits import echoed

# The report's columns, in order (CSV and JSON alike).
COLUMNS = (
    "line",
    "input",
    "address",
    "status",
    "band",
    "probability",
    "probability_low",
    "probability_high",
    "flagged",
    "illicit_type",
    "raising_reasons",
    "lowering_reasons",
    "label_lists",
    "eth_received_listed_share",
    "eth_received_flagged_share",
    "eth_sent_listed_share",
    "eth_sent_flagged_share",
    "error",
)


class ScreeningError(ValueError):
    """A file that cannot be screened at all (too many lines, not text, no address column)."""


@dataclass(frozen=True)
class Line:
    """One line of the upload: its number (1-based, as an editor shows it) and its text."""

    number: int
    text: str


def is_header(cells: list[str]) -> bool:
    """A header names an `address` column, or has several columns and no address first."""
    names = [c.strip().lower() for c in cells]
    return "address" in names or (len(names) > 1 and not names[0].startswith("0x"))


def parse_addresses(content: bytes, limit: int) -> tuple[list[Line], list[Line]]:
    """The lines to screen, and the header line if there is one: a plain list (one address per
    line) or a CSV whose `address` column (else its first column) holds them; blank lines are
    skipped. ScreeningError when the file is not UTF-8 text or holds more than `limit`."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ScreeningError(f"the file is not UTF-8 text (byte {error.start})") from error
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise ScreeningError(f"the file is not CSV: {error}") from error
    column, header = 0, []
    first = next((i for i, r in enumerate(rows) if any(c.strip() for c in r)), None)
    if first is not None and is_header(rows[first]):
        names = [c.strip().lower() for c in rows[first]]
        column = names.index("address") if "address" in names else 0
        header = [Line(first + 1, ",".join(rows[first]))]
        rows[first] = []
    lines = [
        Line(number, (row[column] if column < len(row) else "").strip())
        for number, row in enumerate(rows, start=1)
        if any(cell.strip() for cell in row)
    ]
    if len(lines) > limit:
        raise ScreeningError(f"{len(lines):,} addresses in the file; the limit is {limit:,}")
    return lines, header


def _share(exposure: Mapping[str, object] | None, part: str, key: str) -> object:
    if not exposure:
        return None
    section = exposure.get(part)
    return section.get(key) if isinstance(section, Mapping) else None


def report_row(line: Line, result: Mapping[str, object]) -> dict[str, object]:
    """The report's row of one line, from the API's answer for it (status 200, 400 or 404)."""
    row: dict[str, object] = dict.fromkeys(COLUMNS)
    row.update(line=line.number, input=echoed(line.text), status=result.get("status"))
    row["address"] = result.get("address")
    if result.get("status") != 200:
        row["error"] = result.get("error")
        lists = result.get("label_lists") or []
        row["label_lists"] = "; ".join(_list_text(x) for x in lists) or None  # type: ignore[union-attr]
        return row
    risk: Mapping[str, object] = result["illicit"]  # type: ignore[assignment]
    interval = risk.get("interval") or (None, None)
    reasons = risk.get("reasons") or []
    row.update(
        band=risk.get("band"),
        probability=risk.get("probability"),
        probability_low=interval[0],  # type: ignore[index]
        probability_high=interval[1],  # type: ignore[index]
        flagged=risk.get("flagged"),
        illicit_type=result.get("illicit_type"),
        raising_reasons="; ".join(
            str(r.get("sentence"))
            for r in reasons
            if r.get("direction") == "raises"  # type: ignore[union-attr]
        ),
        lowering_reasons="; ".join(
            str(r.get("sentence"))
            for r in reasons
            if r.get("direction") == "lowers"  # type: ignore[union-attr]
        ),
        label_lists="; ".join(_list_text(x) for x in result.get("label_lists") or []) or None,  # type: ignore[union-attr]
    )
    exposure = result.get("exposure")
    row["eth_received_listed_share"] = _share(exposure, "eth_received", "listed_share")  # type: ignore[arg-type]
    row["eth_received_flagged_share"] = _share(exposure, "eth_received", "flagged_share")  # type: ignore[arg-type]
    row["eth_sent_listed_share"] = _share(exposure, "eth_sent", "listed_share")  # type: ignore[arg-type]
    row["eth_sent_flagged_share"] = _share(exposure, "eth_sent", "flagged_share")  # type: ignore[arg-type]
    return row


def _list_text(entry: Mapping[str, object]) -> str:
    return f"{entry.get('source')}: {entry.get('category') or 'listed'}"


def to_csv(rows: list[dict[str, object]]) -> str:
    """The report as CSV text with a header row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
