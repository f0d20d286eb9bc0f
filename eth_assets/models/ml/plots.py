"""PNG plots of a fixed small size (600 px wide at 100 dpi), drawn with matplotlib's Agg backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

from eth_assets.common.files import write_atomic

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

WIDTH_INCHES = 6.0
DPI = 100
PALETTE = plt.get_cmap("tab10").colors


def save_figure(figure: Figure, path: Path) -> Path:
    """Write `figure` as PNG to `path` atomically and close it."""
    try:
        return write_atomic(
            path, lambda temporary: figure.savefig(temporary, dpi=DPI, format="png")
        )
    finally:
        plt.close(figure)


def _scatter_by_group(
    axis, points: np.ndarray, groups: Sequence[str], title: str, order: Sequence[str] | None
) -> None:
    """Points coloured by group; colours and legend follow `order` (default: largest first)."""
    values = np.asarray(groups, dtype=object).astype(str)
    if order is None:
        names, counts = np.unique(values, return_counts=True)
        order = names[np.argsort(-counts, kind="stable")].tolist()
    for index, name in enumerate(order):
        mask = values == name
        if not mask.any():
            continue
        axis.scatter(
            points[mask, 0],
            points[mask, 1],
            s=3,
            alpha=0.6,
            color=PALETTE[index % len(PALETTE)],
            label=f"{name} ({mask.sum():,})",
            linewidths=0,
        )
    axis.set_title(title, fontsize=9)
    axis.set_xticks([])
    axis.set_yticks([])
    axis.legend(fontsize=6, markerscale=3, loc="best", frameon=False)


def embedding_plot(
    points: np.ndarray,
    panels: Sequence[tuple[str, Sequence[str]]],
    path: Path,
    title: str,
    order: Sequence[str] | None = None,
) -> Path:
    """One scatter panel per (title, group of each point) side by side; `order` fixes the
    colour of each group (as in a bar chart of the same groups)."""
    figure, axes = plt.subplots(
        1, len(panels), figsize=(WIDTH_INCHES, WIDTH_INCHES / len(panels) + 0.5), squeeze=False
    )
    for axis, (panel_title, groups) in zip(axes[0], panels, strict=True):
        _scatter_by_group(axis, points, groups, panel_title, order)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def elbow_plot(
    ks: Sequence[int],
    inertia: Sequence[float],
    silhouette_ks: Sequence[int],
    silhouette: Sequence[float],
    chosen_k: int,
    path: Path,
) -> Path:
    """Inertia (left) and silhouette (right) against k, the chosen k marked on both."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(WIDTH_INCHES, 2.8))
    left.plot(ks, inertia, marker="o", ms=3)
    left.set_title("K-means inertia", fontsize=9)
    right.plot(silhouette_ks, silhouette, marker="o", ms=3, color=PALETTE[1])
    right.set_title("silhouette", fontsize=9)
    for axis in (left, right):
        axis.axvline(chosen_k, color="grey", ls="--", lw=1)
        axis.set_xlabel("k", fontsize=8)
        axis.tick_params(labelsize=7)
    figure.suptitle(f"elbow analysis (chosen k = {chosen_k})", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def silhouette_plot(
    series: dict[str, tuple[Sequence[int], Sequence[float]]], path: Path, title: str
) -> Path:
    """Silhouette against k, one line per (feature set, method)."""
    figure, axis = plt.subplots(figsize=(WIDTH_INCHES, 3.2))
    for index, (name, (ks, values)) in enumerate(series.items()):
        axis.plot(ks, values, marker="o", ms=3, label=name, color=PALETTE[index % len(PALETTE)])
    axis.set_xlabel("k", fontsize=8)
    axis.set_ylabel("silhouette", fontsize=8)
    axis.tick_params(labelsize=7)
    axis.legend(fontsize=6, frameon=False)
    axis.set_title(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def sizes_plot(names: Sequence[str], sizes: Sequence[int], path: Path, title: str) -> Path:
    """Horizontal bars of group sizes with their counts."""
    figure, axis = plt.subplots(figsize=(WIDTH_INCHES, 0.35 * len(names) + 1.0))
    positions = np.arange(len(names))
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    axis.barh(positions, sizes, color=colours)
    axis.set_yticks(positions, labels=list(names), fontsize=7)
    axis.invert_yaxis()
    for position, size in zip(positions, sizes, strict=True):
        axis.text(size, position, f" {size:,}", va="center", fontsize=7)
    axis.set_title(title, fontsize=10)
    axis.tick_params(axis="x", labelsize=7)
    axis.margins(x=0.15)
    figure.tight_layout()
    return save_figure(figure, path)


def logloss_plot(train: Sequence[float], test: Sequence[float], path: Path) -> Path:
    """Logloss per boosting iteration on the training and the held-out folds (fold mean)."""
    figure, axis = plt.subplots(figsize=(WIDTH_INCHES, 3.0))
    axis.plot(np.arange(1, len(train) + 1), train, label="training folds")
    axis.plot(np.arange(1, len(test) + 1), test, label="held-out fold")
    axis.set_xlabel("iteration", fontsize=8)
    axis.set_ylabel("logloss", fontsize=8)
    axis.tick_params(labelsize=7)
    axis.legend(fontsize=7, frameon=False)
    axis.set_title("CatBoost logloss over iterations (mean of the CV folds)", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def reliability_plot(
    labels: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    path: Path,
    bins: int = 10,
    after_label: str = "after calibration (cross-fitted)",
) -> Path:
    """Observed share of illicit accounts against the predicted probability, per decile bin,
    before and after calibration; the diagonal is perfect calibration. `after` should be
    cross-fitted (each row calibrated by a map fitted without its fold): a map evaluated on the
    rows it was fitted to lies on the diagonal by construction."""
    figure, axis = plt.subplots(figsize=(WIDTH_INCHES, 3.6))
    edges = np.linspace(0, 1, bins + 1)
    for name, values in (("before calibration", before), (after_label, after)):
        index = np.clip(np.digitize(values, edges) - 1, 0, bins - 1)
        shown = [b for b in range(bins) if (index == b).any()]
        predicted = [values[index == b].mean() for b in shown]
        observed = [labels[index == b].mean() for b in shown]
        axis.plot(predicted, observed, marker="o", ms=3, label=name)
    axis.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    axis.set_xlabel("predicted probability", fontsize=8)
    axis.set_ylabel("observed share illicit", fontsize=8)
    axis.tick_params(labelsize=7)
    axis.legend(fontsize=7, frameon=False)
    axis.set_title("reliability of the out-of-fold probabilities", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def shap_summary_plot(
    values: np.ndarray, features: np.ndarray, names: Sequence[str], path: Path, top: int = 15
) -> Path:
    """SHAP summary (beeswarm) of the `top` features by mean |SHAP|; `features` holds the
    numeric value of each cell for the colour (categorical columns as codes)."""
    import shap  # imported here: slow to import, and only this plot needs it

    shap.summary_plot(
        values,
        features,
        feature_names=list(names),
        max_display=top,
        show=False,
        plot_size=(WIDTH_INCHES, 0.3 * top + 1.2),
    )
    figure = plt.gcf()
    for axis in figure.axes:
        axis.tick_params(labelsize=7)
    figure.suptitle("SHAP values of the final model (log-odds of illicit)", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def confusion_plot(matrix: np.ndarray, names: Sequence[str], path: Path, title: str) -> Path:
    """A confusion matrix: rows the true class, columns the predicted one, shaded by the share
    of the row, each cell with its count."""
    size = min(WIDTH_INCHES, 1.2 + 0.8 * len(names))
    figure, axis = plt.subplots(figsize=(WIDTH_INCHES, size))
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    shares = matrix / totals
    axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    positions = np.arange(len(names))
    axis.set_xticks(positions, labels=list(names), fontsize=7, rotation=30, ha="right")
    axis.set_yticks(positions, labels=list(names), fontsize=7)
    for row in range(len(names)):
        for column in range(len(names)):
            colour = "white" if shares[row, column] > 0.5 else "black"
            axis.text(
                column, row, f"{matrix[row, column]:,}", ha="center", va="center",
                fontsize=7, color=colour,
            )  # fmt: skip
    axis.set_xlabel("predicted", fontsize=8)
    axis.set_ylabel("true", fontsize=8)
    axis.set_title(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)
