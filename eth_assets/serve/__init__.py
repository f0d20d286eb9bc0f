"""The address page and JSON API: answers from a published snapshot of `address_scores`, never
from the live warehouse (whose lock would block the pipeline)."""
