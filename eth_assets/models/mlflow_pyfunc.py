"""The MLflow pyfunc flavour of this project's models (imported only when a model is logged)."""

from __future__ import annotations

import pickle

import mlflow.pyfunc
import pandas as pd
import polars as pl


class PlainModelPyfunc(mlflow.pyfunc.PythonModel):
    """An MLflow pyfunc around a pickled model object of this project that has `score(frame)`
    (Polars in, Polars out): `mlflow.pyfunc.load_model(...).predict(pandas_frame)` works."""

    def load_context(self, context) -> None:
        with open(context.artifacts["model"], "rb") as handle:
            self.model = pickle.load(handle)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.score(pl.from_pandas(model_input)).to_pandas()
