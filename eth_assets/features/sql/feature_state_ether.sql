-- Feature state, ether side: per address, UTC day and role, the partial aggregates the ether
-- features need (docs/features.md#incremental-features). Merged over days by sum, min and max.
--
-- Inputs, defined by the caller: `transactions` (the columns of eth_assets/chain/schemas.py),
-- `market_gas_price(day, gas_price)` (as for behaviour_features.sql), and the named parameters
-- $start and $end (TIMESTAMPTZ): only rows with $start <= block_timestamp < $end count, so one
-- query builds a range of days, and the day of a cutoff is built up to the cutoff.
--
-- Roles: 'sent' (from_address), 'received' (to_address), 'created' (the contract a creation
-- made: receipt_contract_address). Every address of the rows gets its rows, universe or not: the
-- counterparties' own activity (behaviour_features) reads them, and the universe may change.
--
-- Conventions as address_features.sql: wei sums exact DECIMAL(38, 0); MIN/MAX on DOUBLE casts;
-- value sums and min/max over successful transactions (receipt_status NULL counts as success).
-- Gas price spread is kept as count, exact sum and the day's sum of squared deviations from the
-- day's mean, merged with the parallel-variance formula (Chan et al.).
-- The three roles are stacked by position with every column listed (NULL where a role has
-- none), so the query runs unchanged in BigQuery (eth_assets/features/state_pushdown.py).
-- Dialect: DuckDB.
WITH
tx AS (
    SELECT
        from_address,
        to_address,
        receipt_contract_address,
        block_timestamp,
        CAST(block_timestamp AS DATE) AS day,
        value,
        gas,
        gas_price,
        receipt_gas_used,
        receipt_status,
        CASE WHEN COALESCE(receipt_status, 1) <> 0 THEN value END AS value_ok,
        CAST(receipt_gas_used AS DECIMAL(38, 0))
        * CAST(COALESCE(receipt_effective_gas_price, gas_price) AS DECIMAL(38, 0)) AS fee
    FROM transactions
    WHERE block_timestamp >= CAST($start AS TIMESTAMPTZ)
        AND block_timestamp < CAST($end AS TIMESTAMPTZ)
),

sent AS (
    SELECT
        t.from_address AS address,
        t.day,
        'sent' AS role,
        COUNT(*) AS n,
        COUNT(*) FILTER (WHERE t.to_address IS NULL) AS n_created,
        COUNT(*) FILTER (WHERE t.from_address = t.to_address) AS n_self,
        MIN(t.block_timestamp) AS first_ts,
        MAX(t.block_timestamp) AS last_ts,
        COUNT(t.value_ok) AS n_ok,
        MIN(CAST(t.value_ok AS DOUBLE)) AS min_value,
        MAX(CAST(t.value_ok AS DOUBLE)) AS max_value,
        SUM(t.value_ok) AS sum_value,
        COUNT(t.value_to_contract) AS n_to_contract,
        MIN(CAST(t.value_to_contract AS DOUBLE)) AS min_to_contract,
        MAX(CAST(t.value_to_contract AS DOUBLE)) AS max_to_contract,
        SUM(t.value_to_contract) AS sum_to_contract,
        SUM(t.fee) AS sum_fee,
        COUNT(*) FILTER (WHERE t.receipt_status = 0) AS n_failed,
        COUNT(*) FILTER (
            WHERE COALESCE(t.receipt_gas_used, t.gas) > 21000 OR t.to_address IS NULL
        ) AS n_calls,
        COUNT(*) FILTER (WHERE t.value = 0) AS n_zero_value,
        COUNT(*) FILTER (
            WHERE t.value > 0 AND t.value % CAST(10000000000000000 AS DECIMAL(38, 0)) = 0
        ) AS n_round_value,
        COUNT(*) FILTER (WHERE t.value > 0) AS n_positive_value,
        SUM(CAST(t.gas_price AS DOUBLE) / NULLIF(g.gas_price, 0)) AS sum_gas_vs_day,
        COUNT(CAST(t.gas_price AS DOUBLE) / NULLIF(g.gas_price, 0)) AS n_gas_vs_day,
        COUNT(t.gas_price) AS n_gas_price,
        SUM(CAST(t.gas_price AS DECIMAL(38, 0))) AS sum_gas_price,
        VAR_POP(t.gas_price) * COUNT(t.gas_price) AS m2_gas_price,
        SUM(CAST(t.receipt_gas_used AS DOUBLE) / NULLIF(t.gas, 0)) AS sum_gas_used_ratio,
        COUNT(CAST(t.receipt_gas_used AS DOUBLE) / NULLIF(t.gas, 0)) AS n_gas_used_ratio
    FROM (
        SELECT
            *,
            -- ether into a contract: a creation, or a call that ran code
            CASE
                WHEN COALESCE(receipt_status, 1) <> 0
                    AND (to_address IS NULL OR receipt_gas_used > 21000)
                    THEN value
            END AS value_to_contract
        FROM tx
    ) AS t
    LEFT JOIN market_gas_price AS g ON g.day = t.day
    GROUP BY t.from_address, t.day
),

received AS (
    SELECT
        to_address AS address,
        day,
        'received' AS role,
        COUNT(*) AS n,
        MIN(block_timestamp) AS first_ts,
        MAX(block_timestamp) AS last_ts,
        COUNT(value_ok) AS n_ok,
        MIN(CAST(value_ok AS DOUBLE)) AS min_value,
        MAX(CAST(value_ok AS DOUBLE)) AS max_value,
        SUM(value_ok) AS sum_value,
        COUNT(*) FILTER (
            WHERE value > 0 AND value % CAST(10000000000000000 AS DECIMAL(38, 0)) = 0
        ) AS n_round_value,
        COUNT(*) FILTER (WHERE value > 0) AS n_positive_value
    FROM tx
    WHERE to_address IS NOT NULL
    GROUP BY to_address, day
),

created AS (
    SELECT
        receipt_contract_address AS address,
        day,
        'created' AS role,
        COUNT(*) AS n,
        MIN(block_timestamp) AS first_ts,
        MAX(block_timestamp) AS last_ts,
        SUM(value_ok) AS sum_value
    FROM tx
    WHERE to_address IS NULL AND receipt_contract_address IS NOT NULL
    GROUP BY receipt_contract_address, day
)

SELECT
    address,
    day,
    role,
    n,
    n_created,
    n_self,
    first_ts,
    last_ts,
    n_ok,
    min_value,
    max_value,
    sum_value,
    n_to_contract,
    min_to_contract,
    max_to_contract,
    sum_to_contract,
    sum_fee,
    n_failed,
    n_calls,
    n_zero_value,
    n_round_value,
    n_positive_value,
    sum_gas_vs_day,
    n_gas_vs_day,
    n_gas_price,
    sum_gas_price,
    m2_gas_price,
    sum_gas_used_ratio,
    n_gas_used_ratio
FROM sent
UNION ALL
SELECT
    address,
    day,
    role,
    n,
    CAST(NULL AS BIGINT) AS n_created,
    CAST(NULL AS BIGINT) AS n_self,
    first_ts,
    last_ts,
    n_ok,
    min_value,
    max_value,
    sum_value,
    CAST(NULL AS BIGINT) AS n_to_contract,
    CAST(NULL AS DOUBLE) AS min_to_contract,
    CAST(NULL AS DOUBLE) AS max_to_contract,
    CAST(NULL AS DECIMAL(38, 0)) AS sum_to_contract,
    CAST(NULL AS DECIMAL(38, 0)) AS sum_fee,
    CAST(NULL AS BIGINT) AS n_failed,
    CAST(NULL AS BIGINT) AS n_calls,
    CAST(NULL AS BIGINT) AS n_zero_value,
    n_round_value,
    n_positive_value,
    CAST(NULL AS DOUBLE) AS sum_gas_vs_day,
    CAST(NULL AS BIGINT) AS n_gas_vs_day,
    CAST(NULL AS BIGINT) AS n_gas_price,
    CAST(NULL AS DECIMAL(38, 0)) AS sum_gas_price,
    CAST(NULL AS DOUBLE) AS m2_gas_price,
    CAST(NULL AS DOUBLE) AS sum_gas_used_ratio,
    CAST(NULL AS BIGINT) AS n_gas_used_ratio
FROM received
UNION ALL
SELECT
    address,
    day,
    role,
    n,
    CAST(NULL AS BIGINT) AS n_created,
    CAST(NULL AS BIGINT) AS n_self,
    first_ts,
    last_ts,
    CAST(NULL AS BIGINT) AS n_ok,
    CAST(NULL AS DOUBLE) AS min_value,
    CAST(NULL AS DOUBLE) AS max_value,
    sum_value,
    CAST(NULL AS BIGINT) AS n_to_contract,
    CAST(NULL AS DOUBLE) AS min_to_contract,
    CAST(NULL AS DOUBLE) AS max_to_contract,
    CAST(NULL AS DECIMAL(38, 0)) AS sum_to_contract,
    CAST(NULL AS DECIMAL(38, 0)) AS sum_fee,
    CAST(NULL AS BIGINT) AS n_failed,
    CAST(NULL AS BIGINT) AS n_calls,
    CAST(NULL AS BIGINT) AS n_zero_value,
    CAST(NULL AS BIGINT) AS n_round_value,
    CAST(NULL AS BIGINT) AS n_positive_value,
    CAST(NULL AS DOUBLE) AS sum_gas_vs_day,
    CAST(NULL AS BIGINT) AS n_gas_vs_day,
    CAST(NULL AS BIGINT) AS n_gas_price,
    CAST(NULL AS DECIMAL(38, 0)) AS sum_gas_price,
    CAST(NULL AS DOUBLE) AS m2_gas_price,
    CAST(NULL AS DOUBLE) AS sum_gas_used_ratio,
    CAST(NULL AS BIGINT) AS n_gas_used_ratio
FROM created
