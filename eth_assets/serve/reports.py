"""Misclassification reports: appended durably to their own JSON-lines file, never touching the
scores; the pipeline can read them later. The file is capped in size: once a report would take
it over the cap, reports are refused (never made room for by cutting what others reported)."""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

REPORTS_FILE = "reports.jsonl"
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class ReportsFull(RuntimeError):
    """The reports file is at its cap: the report was not stored."""


class ReportStore:
    """`<folder>/reports.jsonl`: one JSON object per line, flushed and fsynced per report, the
    file kept under `max_bytes`. The file is read once, when the store opens, to count its
    reports (`count`, kept up to date by `add`, for the server log: never shown to clients)."""

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / REPORTS_FILE
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.count = 0
        if self.path.is_file():
            with self.path.open("rb") as handle:
                self.count = sum(1 for line in handle if line.strip())
        log.info("%d reports in %s (cap %d bytes)", self.count, self.path, self.max_bytes)

    def add(self, report: dict[str, object]) -> dict[str, object]:
        """Store `report` with its time; the stored record. ReportsFull when the file would
        grow over `max_bytes` (the size is the file's own, so reports appended by other app
        processes count too)."""
        record = {**report, "reported_at": datetime.now(UTC).isoformat()}
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        with self._lock, self.path.open("ab") as out:
            size = os.fstat(out.fileno()).st_size
            if size + len(line) > self.max_bytes:
                log.error(
                    "report refused: %s holds %d bytes and the cap is %d; move it away (the "
                    "pipeline reads it) or raise --reports-max-mib",
                    self.path,
                    size,
                    self.max_bytes,
                )
                raise ReportsFull(f"{self.path} is full")
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
            self.count += 1
        return record

    def all(self) -> list[dict[str, object]]:
        """Every stored report (for the pipeline and tests; the app never calls it)."""
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
