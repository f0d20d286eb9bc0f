"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eth_assets.settings import SHARED_DATA_ENV

# The checkout is /work/main, so the shared folder beside it is /work/shared/data.
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder ($ETH_ASSETS_SHARED_DATA or ../shared/data); skips tests without it."""
    folder = Path(os.environ.get(SHARED_DATA_ENV) or DEFAULT_SHARED_DATA)
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} not found (set {SHARED_DATA_ENV} to point at it)")
    return folder
