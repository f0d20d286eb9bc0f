"""The Parquet lake: per-day partitions written atomically, compaction, provenance, and the raw
assets that fill it."""
