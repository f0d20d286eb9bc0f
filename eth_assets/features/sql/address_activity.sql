-- When each address of `universe` was active, as of a cutoff: its first and last transaction or
-- token transfer (sent, received or creating it) and how many there were. Never a model feature:
-- the date an account started tells its era, which the labelled data confounds with the label
-- (docs/classifier.md#era). The era-aware evaluation, the address page and the out-of-time
-- evaluation read it.
--
-- Inputs, defined by the caller: `transactions` and `token_transfers` (the columns of
-- eth_assets/chain/schemas.py, label-broadcast tokens already left out, as for the features),
-- `universe(address)`, and the named parameter $as_of (TIMESTAMPTZ).
-- Shape: one row per universe address; first_seen / last_seen NULL without any activity.
-- Dialect: DuckDB, transpilable to BigQuery with sqlglot.
WITH
ids AS (SELECT DISTINCT address FROM universe),

touches AS (  -- every (address, time) at which an address of the universe took part
    SELECT t.from_address AS address, t.block_timestamp
    FROM transactions AS t INNER JOIN ids AS u ON t.from_address = u.address
    WHERE t.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
    UNION ALL
    SELECT t.to_address AS address, t.block_timestamp
    FROM transactions AS t INNER JOIN ids AS u ON t.to_address = u.address
    WHERE t.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
    UNION ALL
    SELECT t.receipt_contract_address AS address, t.block_timestamp
    FROM transactions AS t INNER JOIN ids AS u ON t.receipt_contract_address = u.address
    WHERE t.to_address IS NULL AND t.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
    UNION ALL
    SELECT k.from_address AS address, k.block_timestamp
    FROM token_transfers AS k INNER JOIN ids AS u ON k.from_address = u.address
    WHERE k.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
    UNION ALL
    SELECT k.to_address AS address, k.block_timestamp
    FROM token_transfers AS k INNER JOIN ids AS u ON k.to_address = u.address
    WHERE k.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
),

spans AS (
    SELECT address, MIN(block_timestamp) AS first_seen, MAX(block_timestamp) AS last_seen
    FROM touches
    GROUP BY address
)

SELECT ids.address, spans.first_seen, spans.last_seen
FROM ids LEFT JOIN spans ON spans.address = ids.address
ORDER BY ids.address
