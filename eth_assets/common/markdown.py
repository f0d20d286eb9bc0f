"""Small helpers that turn frames into metadata a person can read in the Dagster UI."""

import polars as pl


def markdown_table(frame: pl.DataFrame) -> str:
    """A Markdown table of a small frame."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
        for row in frame.iter_rows()
    ]
    return "\n".join([header, rule, *rows])
