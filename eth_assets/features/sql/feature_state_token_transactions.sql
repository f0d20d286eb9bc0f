-- Feature state, token transactions: the distinct (address, transaction, token) of a UTC day's
-- token transfers, either side: `unique_token_transfers` counts an address's distinct
-- transactions over the tokens kept, exactly, whichever tokens are left out later.
--
-- Inputs and parameters as feature_state_tokens.sql (every token).
-- Dialect: DuckDB.
SELECT DISTINCT address, transaction_hash, token_address, day
FROM (
    SELECT
        from_address AS address,
        transaction_hash,
        token_address,
        CAST(block_timestamp AS DATE) AS day
    FROM token_transfers
    WHERE block_timestamp >= CAST($start AS TIMESTAMPTZ)
        AND block_timestamp < CAST($end AS TIMESTAMPTZ)
    UNION ALL
    SELECT
        to_address AS address,
        transaction_hash,
        token_address,
        CAST(block_timestamp AS DATE) AS day
    FROM token_transfers
    WHERE block_timestamp >= CAST($start AS TIMESTAMPTZ)
        AND block_timestamp < CAST($end AS TIMESTAMPTZ)
) AS legs
