"""Fitted objects as files: written atomically, read back with a type check; temporary files
named after the process that owns them, so that the next run can remove what a killed one left."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# A temporary file or folder of this project: `<stem>.eth_assets-tmp-<host>-<pid>-<random>`.
TEMP_MARK = "eth_assets-tmp"
_OWNER = re.compile(rf"\.{TEMP_MARK}-(?P<host>.+)-(?P<pid>\d+)-[A-Za-z0-9_]*$")


def temporary_prefix(stem: str) -> str:
    """The prefix of a temporary name (for `tempfile.mkstemp`/`mkdtemp`) that records which
    host and process own it."""
    return f"{stem}.{TEMP_MARK}-{socket.gethostname()}-{os.getpid()}-"


def temporary_owner(name: str) -> tuple[str, int] | None:
    """The host and process id a temporary name was made by, or None for any other name."""
    found = _OWNER.search(name)
    return (found["host"], int(found["pid"])) if found else None


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (one of another user counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files and folders in `folder` (not below) that a process of this
    host made and that no longer runs (killed before it could clean up); the removed paths.

    Names without the mark, of another host, or of a live process are never touched.
    """
    if not folder.is_dir():
        return []
    host = socket.gethostname()
    removed = []
    for entry in folder.iterdir():
        owner = temporary_owner(entry.name)
        if owner is None or owner[0] != host or process_alive(owner[1]):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def temporary_path(path: Path) -> Path:
    """A new, unique temporary name beside `path` (created empty), named by `temporary_prefix`
    so that a killed writer's leftover is recognised and swept."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(f".{path.name}"))
    os.close(handle)
    return Path(temporary)


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """The one way this project replaces a file: `write` fills a temporary file beside `path`,
    which is then renamed over it, so a reader sees the previous complete file or the new one,
    never a half-written one; the temporary file is removed whatever happens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """`data` written to `path` with `write_atomic`."""
    return write_atomic(path, lambda temporary: temporary.write_bytes(data))


def write_text_atomic(path: Path, text: str) -> Path:
    """`text` (UTF-8) written to `path` with `write_atomic`."""
    return write_atomic(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def save_pickle(value: object, path: Path) -> Path:
    """Pickle `value` to `path` with `write_atomic`."""
    return write_bytes_atomic(path, pickle.dumps(value))


def load_pickle(path: Path, kind: type[T], producer: str) -> T:
    """An object this project pickled (never untrusted input), checked to be a `kind`."""
    if not path.is_file():
        raise FileNotFoundError(f"no {kind.__name__} at {path}: materialize {producer} first")
    with path.open("rb") as handle:
        value = pickle.load(handle)
    if not isinstance(value, kind):
        raise TypeError(f"{path} holds a {type(value).__name__}, not a {kind.__name__}")
    return value
