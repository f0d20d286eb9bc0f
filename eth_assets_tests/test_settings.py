"""The settings module lists every environment variable, the README shows exactly that list, and
the accessors read the environment when called."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eth_assets import settings

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENT_READ = re.compile(r"os\.environ|getenv\(")


def _readme_configuration_table() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1]
    start = section.index("| variable |")
    return section[start:].split("\n\n", 1)[0].strip()


def test_readme_configuration_table_is_the_settings_list() -> None:
    table = _readme_configuration_table()
    documented = re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.MULTILINE)
    listed = [s.name for s in settings.SETTINGS]
    assert sorted(documented) == sorted(listed)
    assert table == settings.markdown_table(), (
        "README's configuration table differs from eth_assets/settings.py: paste the output of "
        "`python -m eth_assets.settings` into the README"
    )


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "eth_assets").rglob("*.py"))
        if path.name != "settings.py" and ENVIRONMENT_READ.search(path.read_text(encoding="utf-8"))
    ]
    assert readers == []


def test_setting_names_are_unique_and_documented() -> None:
    names = [s.name for s in settings.SETTINGS]
    assert len(names) == len(set(names))
    assert all(s.default and s.meaning for s in settings.SETTINGS)


def test_defaults_under_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (settings.MLFLOW_TRACKING_URI_ENV, settings.MLFLOW_UI_URL_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(tmp_path))
    assert settings.data_dir() == tmp_path.resolve()
    assert settings.mlflow_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    assert settings.mlflow_artifact_root() == tmp_path.resolve() / "mlflow" / "artifacts"
    assert settings.mlflow_ui_url() == "http://127.0.0.1:5000"


def test_values_are_read_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.MLFLOW_TRACKING_URI_ENV, "http://mlflow.internal:5000")
    monkeypatch.setenv(settings.MLFLOW_UI_URL_ENV, "https://mlflow.example.org/")
    monkeypatch.setenv(settings.LABEL_FILES_ENV, "a.json::b.csv")
    monkeypatch.setenv(settings.SIM_DAYS_ENV, "7")
    monkeypatch.setenv(settings.SCHEDULE_RUNNING_ENV, "On")
    assert settings.mlflow_tracking_uri() == "http://mlflow.internal:5000"
    assert settings.mlflow_ui_url() == "https://mlflow.example.org"
    assert settings.label_files() == ["a.json", "b.csv"]
    assert settings.simulated_chain_overrides() == {"days": "7"}
    assert settings.nightly_schedule_running()


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.SOURCE_ENV, "")
    monkeypatch.setenv(settings.FEATURE_ENGINE_ENV, "")
    monkeypatch.setenv(settings.BQ_MAX_BYTES_ENV, "")
    assert settings.chain_source_kind() == "simulated"
    assert settings.feature_engine() == "local"
    assert settings.bigquery_max_bytes_billed() == 50 * 2**30


def test_bad_values_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.FEATURE_ENGINE_ENV, "spark")
    with pytest.raises(ValueError, match="ETH_ASSETS_FEATURE_ENGINE='spark' is not a feature"):
        settings.feature_engine()
    monkeypatch.setenv(settings.SOURCE_ENV, "ftp")
    with pytest.raises(ValueError, match="'ftp' is not a chain source; choose one of: simulated"):
        settings.chain_source_kind()


def test_a_variable_missing_from_the_list_cannot_be_read() -> None:
    with pytest.raises(KeyError, match="not in the settings list"):
        settings._read("ETH_ASSETS_UNLISTED")
