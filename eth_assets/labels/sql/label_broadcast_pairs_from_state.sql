-- The label-broadcast rule's source from the feature state (label_broadcast_tokens.sql): the
-- token pairs (sender, recipient, token) of `state_tokens` and the names of
-- `state_token_balances` (feature_state.py: every token, the days before the cutoff).
-- The head of a WITH. Dialect: DuckDB.
pairs AS (  -- (token, sender, recipient): transfers and their first and last time
    SELECT
        lower(token_address) AS token_address,
        lower(address) AS from_address,
        lower(counterparty) AS to_address,
        SUM(n) AS n,
        MIN(first_ts) AS first_ts,
        MAX(last_ts) AS last_ts
    FROM state_tokens
    WHERE role = 'sent'
    GROUP BY ALL
),

names AS (
    SELECT lower(token_address) AS token_address, MIN(min_token_name) AS token_name
    FROM state_token_balances
    GROUP BY ALL
)
