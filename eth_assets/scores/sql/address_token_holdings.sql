-- Per address of `universe` and token, as of a cutoff: the transfers in and out and the exact
-- raw balance (received − sent) as three sums of 26-digit parts, p2 * 10^52 + p1 * 10^26 + p0,
-- which the caller adds up as integers (a uint256 value has up to 78 digits; each part is below
-- 10^26, so its sum over fewer than 10^12 transfers fits DECIMAL(38, 0); the same split as
-- address_features.sql). Definitions: docs/exposure.md. Never a model feature.
--
-- Inputs, defined by the caller: `token_transfers` (label-broadcast tokens already left out),
-- `universe(address)`, and the named parameter $as_of (TIMESTAMPTZ).
-- Shape: one row per (address, token) with a transfer before $as_of. `decimals` is the token's
-- when every transfer agrees on it, else NULL (unknown); a value that is not a digit string of
-- at most 78 digits adds nothing to the balance and is counted in `unreadable_values`.
-- Dialect: DuckDB.
WITH
ids AS (SELECT DISTINCT address FROM universe),

legs AS (
    SELECT
        k.from_address AS address,
        k.token_address,
        k.token_name,
        k.token_symbol,
        k.token_decimals,
        k.value,
        CAST(-1 AS DECIMAL(38, 0)) AS sign
    FROM token_transfers AS k
    INNER JOIN ids AS u ON k.from_address = u.address
    WHERE k.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
    UNION ALL
    SELECT
        k.to_address AS address,
        k.token_address,
        k.token_name,
        k.token_symbol,
        k.token_decimals,
        k.value,
        CAST(1 AS DECIMAL(38, 0)) AS sign
    FROM token_transfers AS k
    INNER JOIN ids AS u ON k.to_address = u.address
    WHERE k.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
),

parsed AS (
    SELECT
        *,
        CASE WHEN REGEXP_MATCHES(value, '^[0-9]{1,78}$') THEN value END AS digits
    FROM legs
)

SELECT
    address,
    token_address AS token,
    MAX(NULLIF(token_name, '')) AS name,
    MAX(NULLIF(token_symbol, '')) AS symbol,
    CASE
        WHEN MIN(token_decimals) = MAX(token_decimals) AND COUNT(token_decimals) = COUNT(*)
            THEN MAX(token_decimals)
    END AS decimals,
    CAST(COUNT(*) FILTER (WHERE sign > 0) AS BIGINT) AS transfers_in,
    CAST(COUNT(*) FILTER (WHERE sign < 0) AS BIGINT) AS transfers_out,
    CAST(COUNT(*) FILTER (WHERE digits IS NULL) AS BIGINT) AS unreadable_values,
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
    SUM(COALESCE(sign * CAST(RIGHT(digits, 26) AS DECIMAL(38, 0)), CAST(0 AS DECIMAL(38, 0))))
        AS p0
FROM parsed
GROUP BY address, token_address
ORDER BY address, token_address
