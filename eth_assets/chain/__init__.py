"""Where raw data comes from: the canonical raw tables, source column mapping and errors, retries,
and the simulated chain."""
