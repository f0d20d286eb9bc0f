"""A sensor on the label files: changed labels retrain the classifier and republish the scores.

It watches the files `illicit_labels` reads when its config names none ($ETH_ASSETS_LABEL_FILES,
else the chain source's own labels) and keeps their fingerprints (size, mtime, SHA-256) as its
cursor. A changed file requests one run of `illicit_labels` and of every asset between it and
`address_scores`; the raw extracts are partitioned history and stay as they are.
"""

import hashlib
import json
import time
from pathlib import Path

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from eth_assets.labels.label_assets import missing_label_files, unconfigured_label_files
from eth_assets.resources.chain_sources import ChainSource
from eth_assets.settings import LABEL_FILES_ENV

# Every asset on a path from the labels to the published scores (a test checks this against the
# graph): the universe takes in the labelled addresses, so their features, the cleaned table and
# the investor profiles change as well as the training set and the classifier.
LABEL_REFRESH_ASSETS: tuple[str, ...] = (
    "illicit_labels",
    "address_universe",
    "address_features",
    "address_exposure",
    "clean_features",
    "investor_profiles",
    "training_set",
    "illicit_classifier",
    "illicit_type_model",
    "address_scores",
)

label_refresh_job = define_asset_job(
    name="label_refresh",
    selection=AssetSelection.assets(*LABEL_REFRESH_ASSETS),
    description=(
        "Re-read the label files and rebuild what depends on them up to the published scores "
        "(universe, features, profiles, classifier); no raw extract. The label_files_changed "
        "sensor launches it."
    ),
)

Fingerprints = dict[str, dict[str, int | str]]

# A label file replaced by delete + rename (or a rename racing the stat and the read) is briefly
# missing: fingerprinting is tried this many times, this many seconds apart, before the tick skips.
FINGERPRINT_ATTEMPTS = 3
FINGERPRINT_PAUSE_SECONDS = 0.5


def watched_label_files(chain_source: ChainSource) -> list[str]:
    """The files `illicit_labels` reads without config: $ETH_ASSETS_LABEL_FILES, else the chain
    source's default label files."""
    return unconfigured_label_files(chain_source)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint_files(files: list[str], previous: Fingerprints) -> Fingerprints:
    """Size, mtime (ns) and SHA-256 of each file, keyed by absolute path; a file whose size and
    mtime match `previous` keeps its recorded hash instead of being read again."""
    result: Fingerprints = {}
    for name in files:
        path = Path(name).resolve()
        stat = path.stat()
        known = previous.get(str(path), {})
        unchanged = (known.get("size"), known.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns)
        recorded = known.get("sha256")
        result[str(path)] = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": str(recorded) if unchanged and recorded else _sha256(path),
        }
    return result


def fingerprint_while_replaced(
    files: list[str], previous: Fingerprints
) -> Fingerprints | SkipReason:
    """`fingerprint_files`, tried again while a file is briefly missing (being replaced); a skip
    naming the file when it stays missing, so the tick keeps its cursor and the next one
    compares again."""
    missing = ""
    for attempt in range(FINGERPRINT_ATTEMPTS):
        if attempt:
            time.sleep(FINGERPRINT_PAUSE_SECONDS)
        try:
            return fingerprint_files(files, previous)
        except FileNotFoundError as error:
            missing = str(error.filename or error)
    return SkipReason(
        f"label file {missing} disappeared while it was read, {FINGERPRINT_ATTEMPTS} times "
        "(being replaced?): this tick is skipped and the next one compares the files again"
    )


def changed_files(previous: Fingerprints, current: Fingerprints) -> list[str]:
    """Files whose content differs between two fingerprints, or that joined or left the list."""
    names = sorted(set(previous) | set(current))
    return [
        n for n in names if previous.get(n, {}).get("sha256") != current.get(n, {}).get("sha256")
    ]


def content_digest(fingerprints: Fingerprints) -> str:
    """One SHA-256 over the files' paths and content hashes (not their mtimes)."""
    text = "\n".join(f"{path} {fingerprints[path]['sha256']}" for path in sorted(fingerprints))
    return hashlib.sha256(text.encode()).hexdigest()


def _read_cursor(context: SensorEvaluationContext) -> Fingerprints | None:
    if not context.cursor:
        return None
    try:
        cursor = json.loads(context.cursor)
    except json.JSONDecodeError:
        context.log.warning(f"unreadable cursor {context.cursor[:80]!r}: recording afresh")
        return None
    return cursor if isinstance(cursor, dict) else None


@sensor(
    name="label_files_changed",
    job=label_refresh_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        f"Watches the label files (${LABEL_FILES_ENV}, else the chain source's own) and, when "
        "one changes, re-materializes illicit_labels and everything from it to address_scores."
    ),
)
def label_files_sensor(
    context: SensorEvaluationContext, chain_source: ChainSource
) -> SensorResult | SkipReason:
    """First evaluation: record fingerprints only. Later: one run per change, else a skip."""
    files = watched_label_files(chain_source)
    missing = missing_label_files(files)
    if missing:
        return SkipReason(missing)
    previous = _read_cursor(context)
    current = fingerprint_while_replaced(files, previous or {})
    if isinstance(current, SkipReason):
        return current
    cursor = json.dumps(current, sort_keys=True)
    if previous is None:
        return SensorResult(
            skip_reason=SkipReason(
                f"recorded the fingerprints of {len(current)} label files; a change to any of "
                "them will re-materialize illicit_labels and its dependents"
            ),
            cursor=cursor,
        )
    changed = changed_files(previous, current)
    if not changed:
        return SensorResult(
            skip_reason=SkipReason(f"{len(current)} label files unchanged"), cursor=cursor
        )
    context.log.info(f"label files changed: {', '.join(changed)}")
    return SensorResult(
        run_requests=[
            RunRequest(
                asset_selection=[AssetKey(name) for name in LABEL_REFRESH_ASSETS],
                tags={
                    "eth_assets/trigger": "label_files_changed",
                    "eth_assets/label_files_sha256": content_digest(current),
                },
            )
        ],
        cursor=cursor,
    )
