-- address_activity.sql computed from the feature state: each universe address's first and last
-- transaction or token transfer (sent, received or creating it) before the cutoff, from the
-- days' first and last times. Never a model feature (see address_activity.sql).
--
-- Inputs, defined by the caller: `universe(address)`, `state_ether`, `state_tokens` and
-- `excluded_tokens(token_address)` (feature_state.py).
-- Dialect: DuckDB.
WITH
ids AS (SELECT DISTINCT address FROM universe),

touches AS (
    SELECT address, first_ts, last_ts
    FROM state_ether
    WHERE address IN (SELECT address FROM ids)
    UNION ALL
    SELECT address, first_ts, last_ts
    FROM state_tokens
    WHERE address IN (SELECT address FROM ids)
        AND token_address NOT IN (SELECT token_address FROM excluded_tokens)
),

spans AS (
    SELECT address, MIN(first_ts) AS first_seen, MAX(last_ts) AS last_seen
    FROM touches
    GROUP BY address
)

SELECT ids.address, spans.first_seen, spans.last_seen
FROM ids LEFT JOIN spans ON spans.address = ids.address
ORDER BY ids.address
