"""Where things live, from environment variables with defaults relative to the working directory.

Commands are run from the repository root, so `./data` holds runtime output and `../shared/data`
is the shared real-data folder beside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "ETH_ASSETS_DATA_DIR"
SHARED_DATA_ENV = "ETH_ASSETS_SHARED_DATA"
SOURCE_ENV = "ETH_ASSETS_SOURCE"
PARQUET_DIR_ENV = "ETH_ASSETS_PARQUET_DIR"


def data_dir() -> Path:
    """Runtime output folder (lake, DuckDB files, MLflow store): $ETH_ASSETS_DATA_DIR or ./data."""
    return Path(os.environ.get(DATA_DIR_ENV, "data")).resolve()


def shared_data_dir() -> Path:
    """The real-data folder: $ETH_ASSETS_SHARED_DATA or ../shared/data."""
    return Path(os.environ.get(SHARED_DATA_ENV, os.path.join("..", "shared", "data"))).resolve()


def default_parquet_dir() -> Path:
    """Folder of BigQuery-schema Parquet files: $ETH_ASSETS_PARQUET_DIR or <shared>/raw_txns."""
    configured = os.environ.get(PARQUET_DIR_ENV)
    return Path(configured).resolve() if configured else shared_data_dir() / "raw_txns"
