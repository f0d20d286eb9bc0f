"""Per-address features: the SQL, the address universe, the BigQuery push-down, drift, the papers'
reference feature files, and the feature assets."""
