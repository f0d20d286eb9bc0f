"""eth_assets.models.ml holds plain functions: importing it loads neither Dagster nor MLflow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import eth_assets.models.ml

ML_DIR = Path(eth_assets.models.ml.__file__).parent
FORBIDDEN = ("dagster", "mlflow")


def test_no_module_of_ml_imports_dagster_or_mlflow() -> None:
    offenders = []
    for path in sorted(ML_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_every_ml_module_loads_neither() -> None:
    modules = sorted(p.stem for p in ML_DIR.glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import eth_assets.models.ml.{m}\n" for m in modules)
        + f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
