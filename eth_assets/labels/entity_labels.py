"""Entity labels (exchanges, DeFi, token sales…): used to interpret investor profiles, never as
fraud labels. The format is Etherscan's label cloud: {address: {"name": …, "labels": [...]}}."""

from __future__ import annotations

import json
from pathlib import Path


def read_entity_labels(path: Path) -> dict[str, list[str]]:
    """Lower-case address → entity kinds; a clear error for a file in another shape."""
    if not path.is_file():
        raise FileNotFoundError(f"entity label file {str(path)!r} does not exist")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"entity label file {str(path)!r} is not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ValueError(
            f"entity label file {str(path)!r} must map addresses to {{name, labels}} objects"
        )
    labels: dict[str, list[str]] = {}
    for address, entry in raw.items():
        kinds = entry.get("labels") if isinstance(entry, dict) else None
        if not isinstance(kinds, list):
            raise ValueError(
                f"entity label file {str(path)!r}: entry {address!r} has no `labels` list"
            )
        labels[str(address).strip().lower()] = [str(k) for k in kinds]
    return labels
