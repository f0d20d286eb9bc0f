"""Fitted objects as files: written atomically, read back with a type check."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def save_pickle(value: object, path: Path) -> Path:
    """Pickle `value` to `path` through a temporary file renamed over it: a reader sees the
    previous complete file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            pickle.dump(value, out)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def load_pickle(path: Path, kind: type[T], producer: str) -> T:
    """An object this project pickled (never untrusted input), checked to be a `kind`."""
    if not path.is_file():
        raise FileNotFoundError(f"no {kind.__name__} at {path}: materialize {producer} first")
    with path.open("rb") as handle:
        value = pickle.load(handle)
    if not isinstance(value, kind):
        raise TypeError(f"{path} holds a {type(value).__name__}, not a {kind.__name__}")
    return value
