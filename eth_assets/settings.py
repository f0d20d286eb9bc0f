"""Every environment variable the project reads, with its default and meaning, and typed accessors.

`SETTINGS` is the one list: the README's configuration table is rendered from it
(`python -m eth_assets.settings`) and a test keeps the two equal. Accessors read the environment
when they are called (when resources are built, or inside an asset at run time), never at import,
so a test can set a variable with `monkeypatch.setenv` without reloading modules. A variable set
to the empty string counts as unset. The one
exception is `nightly_schedule_running`, read by `schedules.py` when the code location loads,
because a schedule's default status is part of its definition.

Relative defaults are resolved against the project root (the checkout, or the folder holding
workspace.yaml), so `data/` there holds runtime output and `../shared/data` beside it is the shared
real-data folder, whichever subfolder a command is started from.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    """An environment variable: its name, its default as documented, and what it decides."""

    name: str
    default: str
    meaning: str


DATA_DIR_ENV = "ETH_ASSETS_DATA_DIR"
SHARED_DATA_ENV = "ETH_ASSETS_SHARED_DATA"
SOURCE_ENV = "ETH_ASSETS_SOURCE"
PARQUET_DIR_ENV = "ETH_ASSETS_PARQUET_DIR"
PARQUET_COMPLETE_ENV = "ETH_ASSETS_PARQUET_COMPLETE_HISTORIES"
SIM_SEED_ENV = "ETH_ASSETS_SIM_SEED"
SIM_ACCOUNTS_ENV = "ETH_ASSETS_SIM_ACCOUNTS"
SIM_START_ENV = "ETH_ASSETS_SIM_START"
SIM_DAYS_ENV = "ETH_ASSETS_SIM_DAYS"
BQ_DATASET_ENV = "ETH_ASSETS_BQ_DATASET"
BQ_MAX_BYTES_ENV = "ETH_ASSETS_BQ_MAX_BYTES_BILLED"
BQ_TIMEOUT_ENV = "ETH_ASSETS_BQ_TIMEOUT_SECONDS"
BQ_CONNECT_TIMEOUT_ENV = "ETH_ASSETS_BQ_CONNECT_TIMEOUT_SECONDS"
BQ_STATE_DATASET_ENV = "ETH_ASSETS_BQ_STATE_DATASET"
GOOGLE_PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
LAKE_COMPACT_ENV = "ETH_ASSETS_LAKE_COMPACT_BELOW_MIB"
LABEL_FILES_ENV = "ETH_ASSETS_LABEL_FILES"
ADDRESS_FILE_ENV = "ETH_ASSETS_ADDRESS_FILE"
FEATURE_ENGINE_ENV = "ETH_ASSETS_FEATURE_ENGINE"
SCHEDULE_RUNNING_ENV = "ETH_ASSETS_NIGHTLY_SCHEDULE"
MLFLOW_TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
MLFLOW_UI_URL_ENV = "ETH_ASSETS_MLFLOW_UI_URL"
MLFLOW_TIMEOUT_ENV = "ETH_ASSETS_MLFLOW_TIMEOUT_SECONDS"
DAGSTER_UI_URL_ENV = "ETH_ASSETS_DAGSTER_UI_URL"
DEFAULT_DAGSTER_UI_URL = "http://127.0.0.1:3000"
ENTITY_LABELS_ENV = "ETH_ASSETS_ENTITY_LABELS"
LABEL_BROADCAST_TOKENS_ENV = "ETH_ASSETS_LABEL_BROADCAST_TOKENS"
SCORING_MODEL_ENV = "ETH_ASSETS_SCORING_MODEL"
MARKET_GAS_PRICES_ENV = "ETH_ASSETS_MARKET_GAS_PRICES"
# Etherscan's daily average gas price of the whole chain (2015-07-30 … 2026-06-02), committed with
# its SOURCE.md: the market reference of a store that holds chosen accounts' histories only.
MARKET_GAS_PRICES_FILE = Path("data/external/etherscan_avg_gas_price/export-AvgGasPrice.csv")
# Token contracts whose transfers are labels written on chain by third parties, not behaviour:
# Blockwell's "NOTSAFU" airdrops (2019-01-20, 2019-05-13) and the "SCAM Stamp/Seal" tokens, and
# the two that the detector (eth_assets/labels/label_broadcast.py) found on the real sample:
# brief.blockwell.ai (2019-05-13) and "Arnoya classic" (2022-09). Listed here too so that the
# BigQuery engine, which runs no detection, and the scripts leave them out as well.
DEFAULT_LABEL_BROADCAST_TOKENS = (
    "0x5040a75e178c373677d7506b7d5dce443249d365",
    "0x5bb68732a14bf3eba008902334f27c7615490b50",
    "0x14639c7de58e8f2c714337cf242fa9d26d568665",
    "0x085bf17d6c557254d0370514b97d16307b8f0775",
    "0x4310218b64e4dd5eef15beff801f3713bc35f919",
    "0xb84f655d4aad12b3533218ffeeb1e90e16439217",
    "0x7495e5cc8f27e0bd5bd4cb86d17f0d841ca58ee4",
)
ENTITY_LABELS_FILE = "labels/etherscan_labels_combinedAllLabels.json"

CHAIN_SOURCES = ("simulated", "parquet", "bigquery")
FEATURE_ENGINES = ("local", "bigquery")
DEFAULT_BQ_DATASET = "bigquery-public-data.crypto_ethereum"
DEFAULT_BQ_MAX_BYTES = 50 * 2**30
DEFAULT_BQ_TIMEOUT_SECONDS = 600.0
DEFAULT_BQ_CONNECT_TIMEOUT_SECONDS = 10.0
DEFAULT_MLFLOW_TIMEOUT_SECONDS = 30.0
DEFAULT_MLFLOW_UI_URL = "http://127.0.0.1:5000"
# ETH_ASSETS_SIM_* variable → the SimulatedChainSource field it sets.
SIM_FIELDS = {
    SIM_SEED_ENV: "seed",
    SIM_ACCOUNTS_ENV: "n_accounts",
    SIM_START_ENV: "start_date",
    SIM_DAYS_ENV: "days",
}

SETTINGS: tuple[Setting, ...] = (
    Setting(SOURCE_ENV, "`simulated`", "chain source: `simulated`, `parquet` or `bigquery`"),
    Setting(SIM_SEED_ENV, "42", "seed of the simulated chain"),
    Setting(SIM_ACCOUNTS_ENV, "3000", "accounts of the simulated chain"),
    Setting(SIM_START_ENV, "2021-01-01", "first day of the simulated chain"),
    Setting(SIM_DAYS_ENV, "180", "days of the simulated chain"),
    Setting(
        ADDRESS_FILE_ENV,
        "—",
        "explicit address universe (CSV/Parquet with `address`), when the `address_universe` "
        "config names none",
    ),
    Setting(
        FEATURE_ENGINE_ENV,
        "`local`",
        "`bigquery` pushes the feature SQL down to BigQuery, when the `address_features` config "
        "names no engine",
    ),
    Setting(
        SHARED_DATA_ENV,
        "`../shared/data`",
        "the real-data folder (sample histories, labels, published features)",
    ),
    Setting(PARQUET_DIR_ENV, "`$ETH_ASSETS_SHARED_DATA/raw_txns`", "Parquet source folder"),
    Setting(
        PARQUET_COMPLETE_ENV,
        "`false`",
        "`true` when the Parquet folder is a full-chain export rather than chosen accounts' "
        "histories: the address page then scores addresses outside the universe on the fly",
    ),
    Setting(DATA_DIR_ENV, "`./data`", "runtime output (lake, DuckDB, MLflow)"),
    Setting(
        LAKE_COMPACT_ENV,
        "128",
        "a raw table (else year, else month) smaller than this is also kept as one compact "
        "file; `0` = off",
    ),
    Setting(
        LABEL_FILES_ENV,
        "the chain source's labels: the simulated darklist, or the four lists in "
        "`$ETH_ASSETS_SHARED_DATA/labels`",
        "label files, `:`-separated, when the `illicit_labels` config names none",
    ),
    Setting(
        BQ_DATASET_ENV,
        f"`{DEFAULT_BQ_DATASET}`",
        "BigQuery dataset (`project.dataset`) the `bigquery` source reads",
    ),
    Setting(
        BQ_MAX_BYTES_ENV,
        "53687091200 (50 GiB)",
        "hard cap on the bytes one BigQuery query may bill",
    ),
    Setting(
        BQ_STATE_DATASET_ENV,
        "(unset)",
        "BigQuery dataset (`project.dataset`, yours, writable) where the `bigquery` feature "
        "engine keeps the feature state: one table per state table, partitioned by day. "
        "Required by that engine",
    ),
    Setting(
        BQ_TIMEOUT_ENV,
        "600",
        "seconds one BigQuery query may take, download included, before it fails as a transient "
        "error and BigQuery stops the job",
    ),
    Setting(
        BQ_CONNECT_TIMEOUT_ENV,
        "10",
        "seconds a connection to the BigQuery endpoint may take before the first query; an "
        "endpoint that cannot be reached (no DNS, refused, no route) fails the run at once, "
        "without retries",
    ),
    Setting(GOOGLE_PROJECT_ENV, "—", "the Google Cloud project that pays for BigQuery queries"),
    Setting(
        "GOOGLE_APPLICATION_CREDENTIALS",
        "—",
        "service-account key file, read by the Google client (or use "
        "`gcloud auth application-default login`)",
    ),
    Setting(
        SCHEDULE_RUNNING_ENV,
        "off",
        "`on` starts the `nightly_refresh` schedule (02:15 UTC, yesterday's partition and "
        "everything downstream) without a click; read when the code location loads",
    ),
    Setting(
        MLFLOW_TRACKING_URI_ENV,
        "`sqlite:///<data dir>/mlflow/mlflow.db`, artifacts under `<data dir>/mlflow/artifacts`",
        "MLflow tracking store",
    ),
    Setting(
        MLFLOW_UI_URL_ENV,
        f"`{DEFAULT_MLFLOW_UI_URL}`",
        "address of the MLflow UI used for links in the Dagster UI",
    ),
    Setting(
        MLFLOW_TIMEOUT_ENV,
        "30",
        "seconds an MLflow server may take to answer one request (and the reachability check "
        "before each use); requests are tried 3 times. MLflow's own "
        "`MLFLOW_HTTP_REQUEST_TIMEOUT` and `MLFLOW_HTTP_REQUEST_MAX_RETRIES` win when set",
    ),
    Setting(
        DAGSTER_UI_URL_ENV,
        f"`{DEFAULT_DAGSTER_UI_URL}`",
        "address of the Dagster UI used for links on the address page",
    ),
    Setting(
        ENTITY_LABELS_ENV,
        f"`$ETH_ASSETS_SHARED_DATA/{ENTITY_LABELS_FILE}` when it exists",
        "entity labels (Etherscan label-cloud JSON) that describe investor profiles; never "
        "fraud labels",
    ),
    Setting(
        LABEL_BROADCAST_TOKENS_ENV,
        "Blockwell's two NOTSAFU airdrops, the three SCAM Stamp/Seal tokens, brief.blockwell.ai "
        "and Arnoya classic",
        "comma-separated token contracts whose transfers are labels, not behaviour: "
        "`address_features` leaves them out",
    ),
    Setting(
        MARKET_GAS_PRICES_ENV,
        f"`{MARKET_GAS_PRICES_FILE}` in the repository",
        "Etherscan-format daily average gas price of the whole chain: what `gas_price_vs_day` "
        "divides by when the store holds chosen accounts' histories (a full-chain store uses "
        "its own days)",
    ),
    Setting(
        SCORING_MODEL_ENV,
        "`champion`",
        "the model `address_scores` uses when its config names none: `champion` (the registry "
        "alias), a registered version number, or `local` (the latest `illicit_classifier` file)",
    ),
    Setting(
        "DAGSTER_HOME",
        "—",
        "Dagster's instance folder, read by Dagster; the commands above use `.dagster_home/`",
    ),
)

_NAMES = frozenset(s.name for s in SETTINGS)


def _read(name: str) -> str | None:
    """The variable's value, or None when it is unset or empty; only variables in SETTINGS."""
    if name not in _NAMES:
        raise KeyError(f"{name} is not in the settings list: add it to SETTINGS first")
    return os.environ.get(name) or None


# A folder holding this file is a Dagster project root (the checkout, or a deployment's folder).
PROJECT_MARKER = "workspace.yaml"


def package_checkout() -> Path | None:
    """The checkout this package runs from (the folder above `eth_assets/` holding
    workspace.yaml and pyproject.toml); None for an installed package."""
    folder = Path(__file__).resolve().parent.parent
    found = (folder / PROJECT_MARKER).is_file() and (folder / "pyproject.toml").is_file()
    return folder if found else None


def project_root(cwd: Path | None = None) -> Path:
    """What relative defaults (`data/`, `../shared/data`) are resolved against, so that a command
    started in a subfolder uses the same data as one started at the root: the package's checkout
    when `cwd` (default: the current directory) is inside it, else the nearest folder upward
    holding workspace.yaml, else `cwd` itself."""
    here = (cwd or Path.cwd()).resolve()
    checkout = package_checkout()
    if checkout is not None and here.is_relative_to(checkout):
        return checkout
    return next((d for d in (here, *here.parents) if (d / PROJECT_MARKER).is_file()), here)


def data_dir() -> Path:
    """Runtime output folder (lake, DuckDB files, MLflow store): $ETH_ASSETS_DATA_DIR, else
    `data/` of the project root (see `project_root`), never a second one in a subfolder."""
    configured = _read(DATA_DIR_ENV)
    return Path(configured).resolve() if configured else project_root() / "data"


def shared_data_dir() -> Path:
    """The real-data folder: $ETH_ASSETS_SHARED_DATA, else ../shared/data of the project root."""
    configured = _read(SHARED_DATA_ENV)
    if configured:
        return Path(configured).resolve()
    return (project_root() / ".." / "shared" / "data").resolve()


def default_parquet_dir() -> Path:
    """Folder of BigQuery-schema Parquet files: $ETH_ASSETS_PARQUET_DIR or <shared>/raw_txns."""
    configured = _read(PARQUET_DIR_ENV)
    return Path(configured).resolve() if configured else shared_data_dir() / "raw_txns"


def parquet_complete_histories() -> bool:
    """$ETH_ASSETS_PARQUET_COMPLETE_HISTORIES: `true`/`1`/`yes` or `false`/`0`/`no` (default)."""
    text = (_read(PARQUET_COMPLETE_ENV) or "false").strip().lower()
    if text not in {"true", "1", "yes", "false", "0", "no"}:
        raise ValueError(f"{PARQUET_COMPLETE_ENV}={text!r} is neither true nor false")
    return text in {"true", "1", "yes"}


def chain_source_kind() -> str:
    """The chain source named by $ETH_ASSETS_SOURCE (default `simulated`), lower-cased; an
    unknown name fails naming the choices."""
    kind = (_read(SOURCE_ENV) or "simulated").strip().lower()
    if kind not in CHAIN_SOURCES:
        raise ValueError(
            f"{SOURCE_ENV}={kind!r} is not a chain source; choose one of: "
            f"{', '.join(CHAIN_SOURCES)}"
        )
    return kind


def simulated_chain_overrides() -> dict[str, str]:
    """SimulatedChainSource fields set by $ETH_ASSETS_SIM_* (field → text), only those set."""
    found = {field: _read(name) for name, field in SIM_FIELDS.items()}
    return {field: value for field, value in found.items() if value is not None}


def bigquery_dataset() -> str:
    """$ETH_ASSETS_BQ_DATASET or bigquery-public-data.crypto_ethereum."""
    return _read(BQ_DATASET_ENV) or DEFAULT_BQ_DATASET


def bigquery_state_dataset() -> str | None:
    """$ETH_ASSETS_BQ_STATE_DATASET: where the bigquery engine keeps the feature state."""
    return _read(BQ_STATE_DATASET_ENV)


def bigquery_max_bytes_billed() -> int:
    """$ETH_ASSETS_BQ_MAX_BYTES_BILLED or 50 GiB."""
    text = _read(BQ_MAX_BYTES_ENV)
    return DEFAULT_BQ_MAX_BYTES if text is None else int(text)


def _positive_seconds(name: str, default: float) -> float:
    """$name as a positive, finite number of seconds, or `default` when unset."""
    text = _read(name)
    if text is None:
        return default
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number of seconds") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name}={text!r} must be a positive, finite number of seconds")
    return seconds


def bigquery_timeout_seconds() -> float:
    """$ETH_ASSETS_BQ_TIMEOUT_SECONDS as a positive number of seconds, or 600."""
    return _positive_seconds(BQ_TIMEOUT_ENV, DEFAULT_BQ_TIMEOUT_SECONDS)


def bigquery_connect_timeout_seconds() -> float:
    """$ETH_ASSETS_BQ_CONNECT_TIMEOUT_SECONDS as a positive number of seconds, or 10."""
    return _positive_seconds(BQ_CONNECT_TIMEOUT_ENV, DEFAULT_BQ_CONNECT_TIMEOUT_SECONDS)


def google_cloud_project() -> str | None:
    """$GOOGLE_CLOUD_PROJECT, or None to let the Google client find it."""
    return _read(GOOGLE_PROJECT_ENV)


def lake_compact_below_mib() -> int | None:
    """$ETH_ASSETS_LAKE_COMPACT_BELOW_MIB as a whole number of MiB (0 = off); None when unset."""
    text = _read(LAKE_COMPACT_ENV)
    if text is None:
        return None
    try:
        mib = int(text)
    except ValueError:
        raise ValueError(f"{LAKE_COMPACT_ENV}={text!r} is not a whole number of MiB") from None
    if mib < 0:
        raise ValueError(f"{LAKE_COMPACT_ENV}={text!r} is negative; use 0 to turn compaction off")
    return mib


def label_files() -> list[str]:
    """Files named in $ETH_ASSETS_LABEL_FILES (os.pathsep-separated); empty when unset."""
    return [p for p in (_read(LABEL_FILES_ENV) or "").split(os.pathsep) if p]


def address_file() -> str:
    """$ETH_ASSETS_ADDRESS_FILE, or "" (no explicit universe file)."""
    return _read(ADDRESS_FILE_ENV) or ""


def feature_engine() -> str:
    """$ETH_ASSETS_FEATURE_ENGINE (`local` or `bigquery`), default `local`."""
    engine = _read(FEATURE_ENGINE_ENV) or "local"
    if engine not in FEATURE_ENGINES:
        raise ValueError(
            f"{FEATURE_ENGINE_ENV}={engine!r} is not a feature engine; choose one of: "
            f"{', '.join(FEATURE_ENGINES)}"
        )
    return engine


def nightly_schedule_running() -> bool:
    """True when $ETH_ASSETS_NIGHTLY_SCHEDULE is 1, true, on or running (any case)."""
    return (_read(SCHEDULE_RUNNING_ENV) or "").lower() in {"1", "true", "on", "running"}


def mlflow_tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI, or a SQLite store at <data dir>/mlflow/mlflow.db."""
    return _read(MLFLOW_TRACKING_URI_ENV) or f"sqlite:///{data_dir() / 'mlflow' / 'mlflow.db'}"


def mlflow_artifact_root() -> Path:
    """Where MLflow runs store their artifacts: <data dir>/mlflow/artifacts."""
    return data_dir() / "mlflow" / "artifacts"


def mlflow_ui_url() -> str:
    """$ETH_ASSETS_MLFLOW_UI_URL (no trailing slash), default http://127.0.0.1:5000."""
    return (_read(MLFLOW_UI_URL_ENV) or DEFAULT_MLFLOW_UI_URL).rstrip("/")


def mlflow_timeout_seconds() -> float:
    """$ETH_ASSETS_MLFLOW_TIMEOUT_SECONDS as a positive number of seconds, or 30."""
    return _positive_seconds(MLFLOW_TIMEOUT_ENV, DEFAULT_MLFLOW_TIMEOUT_SECONDS)


# MLflow's own HTTP variables. Its defaults (120 s, 7 retries with backoff) wait 4 minutes on a
# refused connection and 16 on a server that never answers; the tracker bounds them.
MLFLOW_HTTP_TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_TIMEOUT"
MLFLOW_HTTP_RETRIES_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
MLFLOW_HTTP_RETRIES = 2
_MLFLOW_HTTP_SET_HERE: dict[str, str] = {}  # what this module set, to tell it from the user's


def bound_mlflow_http_requests() -> float:
    """Set MLflow's request timeout (ETH_ASSETS_MLFLOW_TIMEOUT_SECONDS, whole seconds) and
    retries (2) in this process, unless the user set MLflow's variables; the timeout."""
    timeout = mlflow_timeout_seconds()
    wanted = {
        MLFLOW_HTTP_TIMEOUT_ENV: str(max(1, math.ceil(timeout))),
        MLFLOW_HTTP_RETRIES_ENV: str(MLFLOW_HTTP_RETRIES),
    }
    for name, value in wanted.items():
        current = os.environ.get(name)
        if current is None or current == _MLFLOW_HTTP_SET_HERE.get(name):
            os.environ[name] = value
            _MLFLOW_HTTP_SET_HERE[name] = value
    return timeout


def dagster_ui_url() -> str:
    """$ETH_ASSETS_DAGSTER_UI_URL (no trailing slash), default http://127.0.0.1:3000."""
    return (_read(DAGSTER_UI_URL_ENV) or DEFAULT_DAGSTER_UI_URL).rstrip("/")


def entity_labels_file() -> Path | None:
    """$ETH_ASSETS_ENTITY_LABELS, else the shared Etherscan labels if present, else None."""
    configured = _read(ENTITY_LABELS_ENV)
    if configured:
        return Path(configured).resolve()
    default = shared_data_dir() / ENTITY_LABELS_FILE
    return default if default.is_file() else None


def label_broadcast_tokens() -> tuple[str, ...]:
    """$ETH_ASSETS_LABEL_BROADCAST_TOKENS (comma-separated, lower-cased), else the default five."""
    configured = _read(LABEL_BROADCAST_TOKENS_ENV)
    if configured is None:
        return DEFAULT_LABEL_BROADCAST_TOKENS
    return tuple(t.strip().lower() for t in configured.split(",") if t.strip())


def market_gas_prices_file() -> Path:
    """$ETH_ASSETS_MARKET_GAS_PRICES, else the Etherscan export committed in the repository."""
    configured = _read(MARKET_GAS_PRICES_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / MARKET_GAS_PRICES_FILE


def scoring_model() -> str:
    """$ETH_ASSETS_SCORING_MODEL, default `champion`."""
    return (_read(SCORING_MODEL_ENV) or "champion").strip()


def markdown_table() -> str:
    """The README's configuration table: one row per setting."""
    rows = [f"| `{s.name}` | {s.default} | {s.meaning} |" for s in SETTINGS]
    return "\n".join(["| variable | default | meaning |", "|---|---|---|", *rows])


if __name__ == "__main__":
    print(markdown_table())
