"""Cleaned datasets, analysis, investor profiles, the illicit-account classifier and its
evaluations. Plain code lives in `ml/`; the `*_assets` modules wire it to Dagster."""
