"""Feature drift between two materializations of a feature table: the population stability
index (PSI) per feature, over the previous table's deciles.

PSI = Σ (current share − previous share) × ln(current share / previous share) over the bins;
the usual reading: below 0.1 stable, 0.1–0.25 a moderate shift, above 0.25 a major one.
"""

from __future__ import annotations

import numpy as np
import polars as pl

MAJOR_SHIFT = 0.25
_EPSILON = 1e-4  # share given to an empty bin, so the logarithm stays finite


def psi(previous: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI of `current` against `previous` over the previous values' quantile bins (ties
    merged, so a mostly-zero feature gets a bin of its own for the zeros)."""
    previous = previous[np.isfinite(previous)]
    current = current[np.isfinite(current)]
    if len(previous) == 0 or len(current) == 0:
        return float("nan")
    edges = np.unique(np.quantile(previous, np.linspace(0, 1, bins + 1)[1:-1]))
    before = np.bincount(np.searchsorted(edges, previous, side="right"), minlength=len(edges) + 1)
    after = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    p = np.maximum(before / before.sum(), _EPSILON)
    c = np.maximum(after / after.sum(), _EPSILON)
    return float(np.sum((c - p) * np.log(c / p)))


def feature_drift(previous: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """PSI per numeric column the two tables share, largest first: feature, psi, the medians."""
    rows = []
    for name in current.columns:
        if name not in previous.columns or not current[name].dtype.is_numeric():
            continue
        before = previous[name].cast(pl.Float64).to_numpy()
        after = current[name].cast(pl.Float64).to_numpy()
        rows.append(
            {
                "feature": name,
                "psi": psi(before, after),
                "previous_median": float(np.nanmedian(before)) if len(before) else float("nan"),
                "current_median": float(np.nanmedian(after)) if len(after) else float("nan"),
            }
        )
    frame = pl.DataFrame(
        rows,
        schema={
            "feature": pl.Utf8,
            "psi": pl.Float64,
            "previous_median": pl.Float64,
            "current_median": pl.Float64,
        },
    )
    return frame.sort("psi", descending=True, nulls_last=True)
