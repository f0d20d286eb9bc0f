"""Small helpers every stage shares: DuckDB connections and quoting, UTC and the genesis date,
address validation, atomic file writes, SQL files by name, Markdown tables."""
