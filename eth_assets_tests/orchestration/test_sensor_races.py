"""The label sensor while a label file is being replaced: a file briefly missing between the
existence check, the stat and the read never raises; the tick retries, or skips keeping its
cursor, and the next tick sees the change."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from dagster import SensorResult, SkipReason, build_sensor_context

import eth_assets.orchestration.sensors as sensors
from eth_assets.resources.chain_sources import ParquetChainSource
from eth_assets.settings import LABEL_FILES_ENV


@pytest.fixture
def label_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A darklist named by $ETH_ASSETS_LABEL_FILES; no pause between fingerprint attempts."""
    darklist = tmp_path / "darklist.json"
    darklist.write_text('[{"address": "0x' + "ab" * 20 + '", "comment": "x", "date": ""}]')
    monkeypatch.setenv(LABEL_FILES_ENV, str(darklist))
    monkeypatch.setattr(sensors, "FINGERPRINT_PAUSE_SECONDS", 0.0)
    return darklist


def _evaluate(cursor: str | None, folder: Path) -> SensorResult | SkipReason:
    source = ParquetChainSource(folder=str(folder))
    context = build_sensor_context(cursor=cursor, resources={"chain_source": source})
    return sensors.label_files_sensor(context)


def _replace(path: Path) -> None:
    """Replace the file atomically, as a label list is updated: write beside it, then rename."""
    new = path.with_name(path.name + ".new")
    new.write_text('[{"address": "0x' + "cd" * 20 + '", "comment": "y", "date": ""}]')
    os.replace(new, path)


def _missing_for(
    monkeypatch: pytest.MonkeyPatch, target: Path, times: int, where: str = "stat"
) -> list[int]:
    """Make the fingerprint's `Path.stat` (or the hash's read) of `target` raise
    FileNotFoundError `times` times, as between the unlink and the rename of a replacement;
    returns the failures raised. Other stats (the existence check just before) find the file."""
    calls: list[int] = []
    target = target.resolve()
    if where == "stat":
        original = Path.stat

        def stat(self: Path, *args: object, **kwargs: object) -> os.stat_result:
            caller = sys._getframe(1).f_code.co_name
            if self == target and caller == "fingerprint_files" and len(calls) < times:
                calls.append(1)
                raise FileNotFoundError(2, "No such file or directory", str(self))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Path, "stat", stat)
    else:
        digest = sensors._sha256

        def sha256(path: Path) -> str:
            if path == target and len(calls) < times:
                calls.append(1)
                raise FileNotFoundError(2, "No such file or directory", str(path))
            return digest(path)

        monkeypatch.setattr(sensors, "_sha256", sha256)
    return calls


@pytest.mark.parametrize("where", ["stat", "read"])
def test_a_file_missing_once_while_replaced_is_retried_and_the_change_found(
    label_file: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    first = _evaluate(None, label_file.parent)
    assert isinstance(first, SensorResult)
    _replace(label_file)
    calls = _missing_for(monkeypatch, label_file, times=1, where=where)
    changed = _evaluate(first.cursor, label_file.parent)
    assert calls == [1]
    assert isinstance(changed, SensorResult) and len(changed.run_requests) == 1


def test_a_file_missing_at_every_attempt_skips_the_tick_keeping_the_cursor(
    label_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _evaluate(None, label_file.parent)
    assert isinstance(first, SensorResult)
    _replace(label_file)
    calls = _missing_for(monkeypatch, label_file, times=sensors.FINGERPRINT_ATTEMPTS)
    skipped = _evaluate(first.cursor, label_file.parent)
    assert len(calls) == sensors.FINGERPRINT_ATTEMPTS
    assert isinstance(skipped, SkipReason)  # no cursor: the next tick compares with the old one
    assert str(label_file) in skipped.skip_message and "disappeared" in skipped.skip_message
    later = _evaluate(first.cursor, label_file.parent)
    assert isinstance(later, SensorResult) and len(later.run_requests) == 1


def test_the_sensor_without_retries_raised_file_not_found(
    label_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a tick did before: the plain fingerprint raises where the sensor now retries."""
    _missing_for(monkeypatch, label_file, times=1)
    with pytest.raises(FileNotFoundError):
        sensors.fingerprint_files([str(label_file)], {})
