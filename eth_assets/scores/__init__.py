"""Per-address scores and exposure, and the published snapshot contract that the page reads."""
