-- Feature state, token side: per address, counterparty, role, token and UTC day, the partial aggregates
-- of its token transfers (count, transfers to itself, first / last time, amounts: count, min,
-- max, sum); the token features' distinct counts and their "to a contract" parts are exact
-- from it once the contracts known at the cutoff are joined (docs/features.md#incremental-features).
--
-- Inputs, defined by the caller: `token_transfers` with every token (the token key lets the
-- features leave out label-broadcast tokens chosen later) and the named parameters $start and
-- $end (TIMESTAMPTZ).
-- Roles: 'sent' (address = from_address, counterparty = to_address) and 'received' (address =
-- to_address, counterparty = from_address). Amounts as address_features.sql: token units as
-- DOUBLE, NULL when the decimals are unknown.
-- Dialect: DuckDB.
WITH
legs AS (
    SELECT
        from_address,
        to_address,
        token_address,
        block_timestamp,
        CAST(block_timestamp AS DATE) AS day,
        TRY_CAST(value AS DOUBLE) / POWER(10.0, token_decimals) AS amount
    FROM token_transfers
    WHERE block_timestamp >= CAST($start AS TIMESTAMPTZ)
        AND block_timestamp < CAST($end AS TIMESTAMPTZ)
)

SELECT
    from_address AS address,
    to_address AS counterparty,
    'sent' AS role,
    token_address,
    day,
    COUNT(*) AS n,
    COUNT(*) FILTER (WHERE from_address = to_address) AS n_self,
    MIN(block_timestamp) AS first_ts,
    MAX(block_timestamp) AS last_ts,
    COUNT(amount) AS n_amount,
    MIN(amount) AS min_amount,
    MAX(amount) AS max_amount,
    SUM(amount) AS sum_amount
FROM legs
GROUP BY from_address, to_address, token_address, day
UNION ALL
SELECT
    to_address AS address,
    from_address AS counterparty,
    'received' AS role,
    token_address,
    day,
    COUNT(*) AS n,
    0 AS n_self,
    MIN(block_timestamp) AS first_ts,
    MAX(block_timestamp) AS last_ts,
    COUNT(amount) AS n_amount,
    MIN(amount) AS min_amount,
    MAX(amount) AS max_amount,
    SUM(amount) AS sum_amount
FROM legs
GROUP BY to_address, from_address, token_address, day
