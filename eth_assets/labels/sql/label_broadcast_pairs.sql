-- The label-broadcast rule's source from the raw transfers (label_broadcast_tokens.sql): per
-- token, sender and recipient the transfers before $as_of (TIMESTAMPTZ) in `token_transfers`
-- (the columns of eth_assets/chain/schemas.py), and each token's smallest name.
-- The head of a WITH. Dialect: DuckDB.
pairs AS (  -- (token, sender, recipient): transfers and their first and last time
    SELECT
        lower(token_address) AS token_address,
        lower(from_address) AS from_address,
        lower(to_address) AS to_address,
        count(*) AS n,
        MIN(block_timestamp) AS first_ts,
        MAX(block_timestamp) AS last_ts
    FROM token_transfers
    WHERE block_timestamp < CAST($as_of AS TIMESTAMPTZ)
    GROUP BY ALL
),

names AS (
    SELECT lower(token_address) AS token_address, MIN(token_name) AS token_name
    FROM token_transfers
    WHERE block_timestamp < CAST($as_of AS TIMESTAMPTZ)
    GROUP BY ALL
)
