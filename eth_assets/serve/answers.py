"""The JSON answer for one address: full precision, everything the page shows, nothing of the
server's own paths or settings. Plain functions over a snapshot row and its context."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_assets.common.addresses import to_checksum_address
from eth_assets.models.ml.calibration import confidence_words
from eth_assets.models.ml.profiles import PROFILE_PHRASES
from eth_assets.models.ml.units import readable
from eth_assets.serve.snapshot_loader import Snapshot

ETHERSCAN = "https://etherscan.io/address/"


@dataclass(frozen=True)
class Links:
    """Public URLs of the Dagster and MLflow UIs (no trailing slash)."""

    dagster_url: str
    mlflow_url: str


def number(value: object) -> float | None:
    """`value` as a float, None for a missing or NaN value."""
    if value is None:
        return None
    result = float(value)  # type: ignore[arg-type]
    return None if math.isnan(result) else result


def is_simulated(chain_source: object) -> bool:
    """Whether the data came from the built-in simulated chain, not from Ethereum."""
    return str(chain_source or "").startswith("simulated")


def _parse_time(text: object) -> datetime | None:
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def data_age_days(as_of: object, now: datetime | None = None) -> float | None:
    """Days from the data's cut-off to now (None when the cut-off is unknown)."""
    cut_off = _parse_time(as_of)
    if cut_off is None:
        return None
    return ((now or datetime.now(UTC)) - cut_off).total_seconds() / 86400.0


_LIST_ENTRY = re.compile(
    r"^(?P<source>[^:]+): (?P<category>.*?)(?: — (?P<name>.*?))?(?: \((?P<date>[^()]*)\))?$"
)


def label_entry(entry: object) -> dict[str, object]:
    """A label-list entry as {source, category, name, date}, from the snapshot's record or
    from the text form of snapshots published before records ("source: category — name (date)")."""
    if isinstance(entry, Mapping):
        date = entry.get("date")
        return {
            "source": entry.get("source"),
            "category": entry.get("category"),
            "name": entry.get("name"),
            "date": date.isoformat() if hasattr(date, "isoformat") else date,
        }
    match = _LIST_ENTRY.match(str(entry))
    if match is None:
        return {"source": None, "category": str(entry), "name": None, "date": None}
    return {key: match.group(key) for key in ("source", "category", "name", "date")}


def confidence(
    probability: float | None, low: float | None, high: float | None, threshold: float | None
) -> str:
    """The score's confidence in plain words (`confidence_words`), or why there is none."""
    if probability is None or threshold is None:
        return "no score"
    if low is None or high is None or low == high:
        return "no interval was estimated for this model's scores"
    return confidence_words(probability, low, high, threshold)


def reasons(row: Mapping[str, object]) -> list[dict[str, object]]:
    """The row's reasons as records (direction, points, value and unit, comparisons); a
    snapshot published before records gives its sentences with an unknown direction."""
    details = row.get("reason_details")
    if details is not None:
        return [dict(d) for d in details]  # type: ignore[union-attr]
    return [
        {"feature": feature, "direction": None, "points": None, "sentence": sentence}
        for sentence, feature in zip(
            row.get("reasons") or [],
            list(row.get("reason_features") or []) + [None] * len(row.get("reasons") or []),
            strict=False,
        )
    ]


def profile_values(row: Mapping[str, object]) -> dict[str, dict[str, object]]:
    """The address's values of the profile features: each with its unit as shown to people."""
    values = json.loads(str(row["profile_values"])) if row.get("profile_values") else {}
    return {
        name: {
            "label": PROFILE_PHRASES.get(name, name.replace("_", " ")),
            "value": value,
            "shown": readable(name, value),
        }
        for name, value in values.items()
    }


def answer(
    snapshot: Snapshot,
    address: str,
    row: Mapping[str, object],
    links: Links,
    context: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The full answer for a scored address: risk with its interval and reasons on both sides,
    profile, label lists, exposure and counterparties, activity, and where it all came from."""
    manifest = snapshot.manifest
    run_id = str(manifest.get("dagster_run_id", ""))
    model = str(row.get("model") or manifest.get("model", ""))
    name, _, version = model.partition(" v")
    chain_source = row.get("chain_source") or manifest.get("chain_source")
    as_of = manifest.get("as_of") or row.get("as_of")
    probability = number(row.get("probability"))
    low = number(row.get("probability_low"))
    high = number(row.get("probability_high"))
    threshold = number(row.get("threshold"))
    found = reasons(row)
    context = context or {}
    return {
        "address": address,
        "checksummed": to_checksum_address(address),
        "as_of": as_of,
        "data_age_days": data_age_days(as_of),
        "chain_source": public_source(chain_source),
        "simulated": is_simulated(chain_source),
        "model": model,
        "model_version": version if version.isdigit() else None,
        "snapshot": snapshot.name,
        "published_at": manifest.get("published_at"),
        "scored": row.get("scored", "snapshot"),
        "scored_at": row["scored_at"].isoformat()  # type: ignore[union-attr]
        if hasattr(row.get("scored_at"), "isoformat")
        else None,
        "has_activity": bool(row["has_activity"]),
        # The most likely type of illicit activity of a flagged address (NULL otherwise, and in
        # snapshots published before the type model).
        "illicit_type": row.get("illicit_type"),
        "illicit_type_probability": number(row.get("illicit_type_probability")),
        "illicit": {
            "probability": probability,
            "interval": [low, high] if low is not None and high is not None else None,
            "confidence": confidence(probability, low, high, threshold),
            "threshold": threshold,
            "flagged": bool(row["is_flagged"]),
            "band": row["band"],
            "bands": manifest.get("bands"),
            "reasons": found,
            "reason_features": [r.get("feature") for r in found],
        },
        "profile": {
            "id": row.get("profile_id"),  # absent from snapshots published without profiles
            "name": row.get("profile_name"),
            "defined_by": row.get("profile_sets_apart"),
            "values": profile_values(row),
        },
        "label_lists": [label_entry(e) for e in row.get("label_hits") or []],
        "exposure": context.get("exposure"),
        "counterparties": context.get("counterparties"),
        "activity": context.get("activity"),
        "holdings": context.get("holdings"),
        "score_history": context.get("score_history"),
        "links": {
            "etherscan": ETHERSCAN + to_checksum_address(address),
            "dagster_asset": f"{links.dagster_url}/assets/address_scores",
            "dagster_run": f"{links.dagster_url}/runs/{run_id}" if run_id else None,
            "mlflow_model": f"{links.mlflow_url}/#/models/{name}/versions/{version}"
            if version.isdigit()
            else None,
        },
    }


# Why a snapshot does not score on the fly, as a client reads it: the manifest's own words are
# for operators and may name a folder, a source's location or a setting.
PUBLIC_REASONS = (
    (
        "whole histories only",
        "the store holds whole histories only for the universe's addresses; any other address "
        "appears there only through its transactions with them, so it is not scored from that "
        "fragment",
    ),
    ("in BigQuery", "the features were computed in BigQuery, not from a store this server reads"),
    ("newer than the cleaned", "the snapshot's model was fitted on older features than its own"),
)
NO_ON_THE_FLY = "this snapshot was published without what on-the-fly scoring needs"


def public_reason(note: str) -> str:
    """Why addresses outside the snapshot are not scored on request, in fixed words without
    any path, source location or setting."""
    for marker, words in PUBLIC_REASONS:
        if marker in note:
            return words
    return NO_ON_THE_FLY


def public_source(chain_source: object) -> str | None:
    """The data's source as clients see it: the simulated chain and BigQuery's public dataset
    by name, any other source by its kind only (a Parquet source's folder, a private project
    stay on the server)."""
    if chain_source is None:
        return None
    text = str(chain_source)
    kind, _, where = text.partition(":")
    if kind == "simulated" or where.startswith("bigquery-public-data."):
        return text
    return kind


def not_scored(snapshot: Snapshot, address: str) -> dict[str, object]:
    """Why an address has no score, short, with the longer why in `detail`: an address with no
    history before the cut-off, or one this store cannot score; never reported as clean."""
    as_of = str(snapshot.manifest.get("as_of") or "")[:10]
    if snapshot.on_the_fly is not None:
        error = (
            f"No score: this address has no transaction or token transfer before {as_of} in "
            "the data, so nothing can be said about it. That is not a clean bill."
        )
        detail = (
            f"The store holds whole histories, and it was searched for {address}; an unknown "
            "address is never reported as clean."
        )
        lists = snapshot.on_the_fly.label_hits.get(address, [])
        return {
            "address": address,
            "error": error,
            "detail": detail,
            "label_lists": [label_entry(e) for e in lists],
        }
    error = (
        f"No score: this address is not among the {len(snapshot.rows):,} addresses scored as of "
        f"{as_of}. That is not a clean bill."
    )
    detail = f"It is not scored on request because {public_reason(snapshot.on_the_fly_note)}."
    return {"address": address, "error": error, "detail": detail}
