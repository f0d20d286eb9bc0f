"""SQL files of the project, loaded by name: each stage keeps its queries in its own `sql/`
folder, and a name is unique across them."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

# The stages that hold SQL files, in the order they are searched.
SQL_PACKAGES = (
    "eth_assets.chain.sql",
    "eth_assets.labels.sql",
    "eth_assets.features.sql",
    "eth_assets.scores.sql",
)


def sql_files() -> dict[str, Traversable]:
    """Every `.sql` file of the stages, by file name."""
    found: dict[str, Traversable] = {}
    for package in SQL_PACKAGES:
        for entry in resources.files(package).iterdir():
            if entry.name.endswith(".sql"):
                if entry.name in found:
                    raise RuntimeError(f"two SQL files are named {entry.name} ({package})")
                found[entry.name] = entry
    return found


def load_sql(name: str) -> str:
    """Return the text of `<name>.sql` (or of `name` when it ends in .sql) from its stage."""
    filename = name if name.endswith(".sql") else f"{name}.sql"
    files = sql_files()
    if filename not in files:
        raise FileNotFoundError(f"no SQL file {filename} in {', '.join(SQL_PACKAGES)}")
    return files[filename].read_text(encoding="utf-8")
