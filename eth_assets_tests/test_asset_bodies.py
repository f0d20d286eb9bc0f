"""Thin assets, kept so: every asset body (docstring aside) fits in 60 lines, and MLflow is
logged only by the finishing step (eth_assets.models.model_runs) and the tracker resource,
never by an asset module."""

from __future__ import annotations

import ast
from pathlib import Path

import eth_assets

PACKAGE = Path(eth_assets.__file__).parent
MAX_BODY_LINES = 60
ASSET_DECORATORS = {"asset", "multi_asset", "graph_asset", "graph_multi_asset"}
# Calls that log to MLflow: only the finishing step and the tracker make them.
MLFLOW_CALLS = {
    "start_run",
    "log_params",
    "log_metrics",
    "log_artifact",
    "log_artifacts",
    "log_model",
    "set_tags",
    "set_alias",
    "promote",
}
MLFLOW_HOMES = {PACKAGE / "models" / "model_runs.py", PACKAGE / "resources" / "tracking.py"}
# Assets still over the line limit, allowed until they are thinned (a plain function and
# eth_assets.models.model_runs.finish); remove a name once its body fits.
LONG_BODIES_ALLOWED: set[str] = set()
# Asset modules that still log to MLflow themselves; remove one once it finishes with `finish`.
MLFLOW_ALLOWED: set[str] = set()


def asset_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*_assets.py"))


def decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def asset_functions(path: Path) -> list[ast.FunctionDef]:
    """The functions of `path` decorated as assets."""
    return [
        node
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
        and any(decorator_name(d) in ASSET_DECORATORS for d in node.decorator_list)
    ]


def body_lines(function: ast.FunctionDef) -> int:
    """Lines of the body from its first statement after the docstring to its last."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def mlflow_calls(path: Path) -> list[str]:
    """`line: name` of every MLflow logging call in `path`."""
    return [
        f"{node.lineno}: {node.func.attr}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in MLFLOW_CALLS
    ]


def test_the_parser_finds_the_model_assets() -> None:
    names = {f.name for path in asset_modules() for f in asset_functions(path)}
    assert {"illicit_classifier", "investor_profiles", "clean_features", "address_scores"} <= names
    assert "illicit_labels" in names


def test_no_asset_body_is_longer_than_sixty_lines() -> None:
    long = {
        f"{path.relative_to(PACKAGE)}::{function.name}": body_lines(function)
        for path in asset_modules()
        for function in asset_functions(path)
        if function.name not in LONG_BODIES_ALLOWED and body_lines(function) > MAX_BODY_LINES
    }
    assert long == {}


def test_the_allow_list_names_only_long_assets() -> None:
    """A name left on the allow-list after its asset got thin is removed from it."""
    lengths = {f.name: body_lines(f) for path in asset_modules() for f in asset_functions(path)}
    assert {n for n in LONG_BODIES_ALLOWED if lengths.get(n, 0) <= MAX_BODY_LINES} == set()


def test_only_the_finishing_step_and_the_tracker_log_to_mlflow() -> None:
    found = {
        str(path.relative_to(PACKAGE)): calls
        for path in asset_modules()
        if str(path.relative_to(PACKAGE)) not in MLFLOW_ALLOWED
        for calls in [mlflow_calls(path)]
        if calls
    }
    assert found == {}
    assert all(mlflow_calls(home) for home in MLFLOW_HOMES)


def test_the_line_count_skips_the_docstring() -> None:
    source = 'def f():\n    """Doc\n    string."""\n    a = 1\n\n    return a\n'
    function = ast.parse(source).body[0]
    assert body_lines(function) == 3
