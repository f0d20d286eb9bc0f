"""SQL files of the project, loaded by name."""

from __future__ import annotations

from importlib import resources


def load_sql(name: str) -> str:
    """Return the text of `<name>.sql` (or of `name` when it ends in .sql) from this folder."""
    filename = name if name.endswith(".sql") else f"{name}.sql"
    return resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
