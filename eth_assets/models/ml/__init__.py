"""Plain machine-learning functions: cleaning, embedding, clustering, plots.

Functions here take frames, arrays and settings and return frozen dataclasses (numbers, frames,
paths of the PNG files they wrote). They never import Dagster or MLflow: the assets wire them to
the warehouse and the tracker.
"""
