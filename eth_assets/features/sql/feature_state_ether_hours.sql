-- Feature state, ether timing: per address, UTC day and hour of day, how many transactions it
-- sent or received (a transaction to itself counts on both sides, as in behaviour_features.sql);
-- and per address, UTC day and gas price, how many transactions it sent at that price. Active
-- days, the busiest day, the hour entropy and the distinct gas prices are exact from these
-- (docs/features.md#incremental-features). Merged over days by sum.
--
-- Inputs and parameters as feature_state_ether.sql. `kind` is 'hour' (key: the hour, 0-23) or
-- 'gas_price' (key: the gas price in wei).
-- Dialect: DuckDB.
WITH
tx AS (
    SELECT from_address, to_address, gas_price, block_timestamp
    FROM transactions
    WHERE block_timestamp >= CAST($start AS TIMESTAMPTZ)
        AND block_timestamp < CAST($end AS TIMESTAMPTZ)
),

moments AS (
    SELECT from_address AS address, block_timestamp FROM tx
    UNION ALL
    SELECT to_address AS address, block_timestamp FROM tx WHERE to_address IS NOT NULL
)

SELECT
    address,
    CAST(block_timestamp AS DATE) AS day,
    'hour' AS kind,
    CAST(EXTRACT(HOUR FROM block_timestamp) AS BIGINT) AS key,
    COUNT(*) AS n
FROM moments
GROUP BY ALL
UNION ALL
SELECT
    from_address AS address,
    CAST(block_timestamp AS DATE) AS day,
    'gas_price' AS kind,
    gas_price AS key,
    COUNT(*) AS n
FROM tx
WHERE gas_price IS NOT NULL
GROUP BY ALL
