"""Misclassification reports: appended durably to their own JSON-lines file, never touching the
scores; the pipeline can read them later."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path


class ReportStore:
    """`<folder>/reports.jsonl`: one JSON object per line, flushed and fsynced per report."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "reports.jsonl"
        self._lock = threading.Lock()

    def add(self, report: dict[str, object]) -> dict[str, object]:
        """Store `report` with its time; the stored record."""
        record = {**report, "reported_at": datetime.now(UTC).isoformat()}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
        return record

    def all(self) -> list[dict[str, object]]:
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def count(self) -> int:
        if not self.path.is_file():
            return 0
        with self.path.open(encoding="utf-8") as handle:
            return sum(1 for line in handle if line.strip())
