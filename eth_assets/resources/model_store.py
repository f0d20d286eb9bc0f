"""Where model assets keep their current files: fitted models and plots, one folder per asset.

Every file is written atomically (a temporary name renamed over it), so a reader sees the
previous complete file or the new one. MLflow keeps each run's copy; this is the current one.
Temporary files that a killed process left in an asset's folder are removed when the asset next
asks for its folder (eth_assets.common.files names them after their process).
"""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from eth_assets.common.files import remove_stale_temporaries
from eth_assets.settings import data_dir


class ModelStore(ConfigurableResource):
    """`<data dir>/models/<asset>/` unless `root` says otherwise."""

    root: str = Field(default="", description="Folder of model files; empty: <data dir>/models.")
    published_root: str = Field(
        default="", description="Folder of published snapshots; empty: <data dir>/published."
    )

    def published(self, name: str) -> Path:
        """The folder of `name`'s published snapshots, created if missing."""
        base = (
            Path(self.published_root).resolve() if self.published_root else data_dir() / "published"
        )
        folder = base / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def folder(self, asset_name: str) -> Path:
        """The asset's folder, created if missing, without temporary files of killed runs."""
        base = Path(self.root).resolve() if self.root else data_dir() / "models"
        folder = base / asset_name
        folder.mkdir(parents=True, exist_ok=True)
        removed = remove_stale_temporaries(folder)
        if removed:
            get_dagster_logger().info(
                f"removed temporary files of killed runs: {[p.name for p in removed]}"
            )
        return folder

    def plot_path(self, asset_name: str, plot: str) -> Path:
        """Where the asset's current PNG plot `plot` lives."""
        return self.folder(asset_name) / f"{plot}.png"
