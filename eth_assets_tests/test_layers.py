"""The house's layers, read from the import graph: one home per stage, no two modules of the same
name, plain code free of Dagster, assets that never reach into the web process, and a web process
that loads neither Dagster nor the resources."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

import eth_assets

PACKAGE = Path(eth_assets.__file__).parent
STAGES = (
    "common",
    "chain",
    "lake",
    "labels",
    "features",
    "models",
    "scores",
    "serve",
    "orchestration",
    "resources",
)
TOP_LEVEL_MODULES = {"__init__", "settings", "definitions"}
# Modules whose job is Dagster wiring; every other module is plain and imports no Dagster.
WIRING_STAGES = {"orchestration", "resources"}
WIRING_MODULES = {"maintenance", "partitions", "retries", "model_runs"}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts)] = path
    return found


def imports_of(path: Path) -> set[str]:
    """The modules `path` imports, at any depth of its code (imports inside functions count)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def stage_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 else None


def is_wiring(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return (
        stage_of(name) in WIRING_STAGES
        or leaf.endswith("_assets")
        or leaf in WIRING_MODULES
        or name == "eth_assets.definitions"
    )


def test_every_module_lives_in_a_stage_and_a_stage_in_at_most_two_folders() -> None:
    folders: dict[str, set[Path]] = {}
    strays = []
    for name, path in modules().items():
        stage = stage_of(name)
        if stage is None:
            if path.stem not in TOP_LEVEL_MODULES:
                strays.append(name)
            continue
        if stage not in STAGES:
            strays.append(name)
            continue
        if path.stem == "__init__" and path.parent.name == "sql":
            continue  # the SQL folders hold queries, not code
        folders.setdefault(stage, set()).add(path.parent)
    assert strays == []
    assert {stage: len(dirs) for stage, dirs in folders.items() if len(dirs) > 2} == {}


def test_no_two_modules_share_a_name() -> None:
    stems = Counter(p.stem for p in PACKAGE.rglob("*.py") if p.stem != "__init__")
    packages = {p.parent.name for p in PACKAGE.rglob("__init__.py")}
    assert [stem for stem, n in stems.items() if n > 1] == []
    assert sorted(set(stems) & packages) == []


def test_sql_file_names_are_unique_across_stages() -> None:
    from eth_assets.common.sql_files import sql_files

    on_disk = sorted(p.name for p in PACKAGE.rglob("*.sql"))
    assert sorted(sql_files()) == on_disk


def test_plain_modules_import_no_dagster() -> None:
    offenders = [
        name
        for name, path in modules().items()
        if not is_wiring(name)
        and any(i.split(".")[0] in {"dagster", "dagster_gcp"} for i in imports_of(path))
    ]
    assert offenders == []


def test_models_ml_imports_neither_mlflow_nor_the_resources() -> None:
    offenders = [
        f"{name} imports {i}"
        for name, path in modules().items()
        if name.startswith("eth_assets.models.ml.")
        for i in imports_of(path)
        if i.split(".")[0] == "mlflow"
        or (
            i.startswith(("eth_assets.resources", "eth_assets.models."))
            and not i.startswith("eth_assets.models.ml")
        )
    ]
    assert offenders == []


def test_assets_never_import_the_web_process() -> None:
    offenders = [
        f"{name} imports {i}"
        for name, path in modules().items()
        if stage_of(name) != "serve"
        for i in imports_of(path)
        if i.startswith("eth_assets.serve")
    ]
    assert offenders == []


def test_serve_imports_neither_dagster_nor_resources_nor_assets() -> None:
    offenders = [
        f"{name} imports {i}"
        for name, path in modules().items()
        if stage_of(name) == "serve"
        for i in imports_of(path)
        if i.split(".")[0] in {"dagster", "dagster_gcp", "mlflow"}
        or i.startswith(("eth_assets.resources", "eth_assets.orchestration"))
        or (i.startswith("eth_assets.") and i.rsplit(".", 1)[-1].endswith("_assets"))
        or i == "eth_assets.definitions"
    ]
    assert offenders == []


def test_the_web_process_loads_no_dagster() -> None:
    """Importing the app and the CLI (what `eth-assets serve` runs) in a fresh interpreter loads
    no Dagster, MLflow or BigQuery client."""
    code = (
        "import sys\n"
        "import eth_assets.serve.app, eth_assets.serve.cli\n"
        "heavy = ('dagster', 'dagster_gcp', 'mlflow', 'google.cloud.bigquery')\n"
        "print(sorted({m for m in sys.modules for h in heavy if m == h or m.startswith(h + '.')}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_common_depends_on_no_stage() -> None:
    offenders = [
        f"{name} imports {i}"
        for name, path in modules().items()
        if stage_of(name) == "common"
        for i in imports_of(path)
        if i.startswith("eth_assets.")
        and not i.startswith(("eth_assets.common", "eth_assets.settings"))
    ]
    assert offenders == []
