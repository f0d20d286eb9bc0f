-- Feature state, per token: per address, token contract and UTC day, the transfers on each side,
-- the token's name and the exact signed change of the raw balance as three sums of 26-digit parts
-- (p2 * 10^52 + p1 * 10^26 + p0, as address_features.sql tok_tokens). Merged over days by sum
-- (the name by MAX).
--
-- Inputs and parameters as feature_state_tokens.sql (every token).
-- Dialect: DuckDB.
WITH
legs AS (
    SELECT
        t.address,
        t.token_address,
        CAST(t.block_timestamp AS DATE) AS day,
        NULLIF(t.token_name, '') AS token_name,
        t.token_name AS listed_name,
        t.role,
        CAST(t.sign AS DECIMAL(38, 0)) AS sign,
        CASE WHEN REGEXP_MATCHES(t.value, '^[0-9]{1,78}$') THEN t.value END AS digits
    FROM (
        SELECT
            from_address AS address, token_address, block_timestamp,
            token_name, value, 'sent' AS role, -1 AS sign
        FROM token_transfers
        WHERE block_timestamp >= CAST($start AS TIMESTAMPTZ)
            AND block_timestamp < CAST($end AS TIMESTAMPTZ)
        UNION ALL
        SELECT
            to_address AS address, token_address, block_timestamp,
            token_name, value, 'received' AS role, 1 AS sign
        FROM token_transfers
        WHERE block_timestamp >= CAST($start AS TIMESTAMPTZ)
            AND block_timestamp < CAST($end AS TIMESTAMPTZ)
    ) AS t
)

SELECT
    address,
    token_address,
    day,
    MAX(token_name) AS token_name,
    MIN(listed_name) AS min_token_name,  -- the name label-broadcast detection shows
    COUNT(*) AS n,
    COUNT(*) FILTER (WHERE role = 'sent') AS n_sent,
    COUNT(*) FILTER (WHERE role = 'received') AS n_received,
    SUM(CASE
        WHEN LENGTH(digits) > 52
            THEN sign * CAST(SUBSTRING(digits, 1, LENGTH(digits) - 52) AS DECIMAL(38, 0))
        ELSE CAST(0 AS DECIMAL(38, 0))
    END) AS p2,
    SUM(CASE
        WHEN LENGTH(digits) > 26
            THEN sign * CAST(SUBSTRING(
                digits, GREATEST(LENGTH(digits) - 51, 1), LEAST(LENGTH(digits) - 26, 26)
            ) AS DECIMAL(38, 0))
        ELSE CAST(0 AS DECIMAL(38, 0))
    END) AS p1,
    SUM(sign * CAST(RIGHT(digits, 26) AS DECIMAL(38, 0))) AS p0
FROM legs
GROUP BY address, token_address, day
