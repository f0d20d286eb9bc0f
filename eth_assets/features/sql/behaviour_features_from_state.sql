-- behaviour_features.sql computed from the feature state instead of the raw history: the same
-- columns, types and values, one row per address of `universe`, ordered by address. The merge
-- rule of each part is in docs/features.md#incremental-features.
--
-- Inputs, defined by the caller: `universe(address)` and the state up to the cutoff:
-- `state_ether` (feature_state_ether.sql), `state_ether_pairs`, `state_ether_times`.
-- Dialect: DuckDB.
WITH
ids AS (SELECT DISTINCT address FROM universe),

sent AS (  -- per universe address: how it sends; the gas price spread by the parallel-variance
    -- merge of the days' counts, means and squared deviations
    SELECT
        address,
        n,
        n_failed,
        n_calls,
        n_zero_value,
        n_round_value,
        n_positive_value,
        sum_gas_vs_day / NULLIF(n_gas_vs_day, 0) AS gas_price_vs_day,
        SQRT(m2_gas_price / NULLIF(n_gas_price, 0)) / NULLIF(mean_gas_price, 0) AS gas_price_cv,
        sum_gas_used_ratio / NULLIF(n_gas_used_ratio, 0) AS gas_used_ratio,
        first_sent
    FROM (
        SELECT
            d.address,
            CAST(SUM(d.n) AS BIGINT) AS n,
            CAST(SUM(d.n_failed) AS BIGINT) AS n_failed,
            CAST(SUM(d.n_calls) AS BIGINT) AS n_calls,
            CAST(SUM(d.n_zero_value) AS BIGINT) AS n_zero_value,
            CAST(SUM(d.n_round_value) AS BIGINT) AS n_round_value,
            CAST(SUM(d.n_positive_value) AS BIGINT) AS n_positive_value,
            SUM(d.sum_gas_vs_day) AS sum_gas_vs_day,
            SUM(d.n_gas_vs_day) AS n_gas_vs_day,
            SUM(d.n_gas_price) AS n_gas_price,
            ANY_VALUE(d.mean_gas_price) AS mean_gas_price,
            SUM(d.m2_gas_price) + SUM(
                d.n_gas_price * POWER(d.day_mean_gas_price - d.mean_gas_price, 2)
            ) AS m2_gas_price,
            SUM(d.sum_gas_used_ratio) AS sum_gas_used_ratio,
            SUM(d.n_gas_used_ratio) AS n_gas_used_ratio,
            MIN(d.first_ts) AS first_sent
        FROM (
            SELECT
                e.*,
                CAST(e.sum_gas_price AS DOUBLE) / NULLIF(e.n_gas_price, 0) AS day_mean_gas_price,
                CAST(SUM(e.sum_gas_price) OVER (PARTITION BY e.address) AS DOUBLE)
                / NULLIF(SUM(e.n_gas_price) OVER (PARTITION BY e.address), 0) AS mean_gas_price
            FROM state_ether AS e
            WHERE e.role = 'sent' AND e.address IN (SELECT address FROM ids)
        ) AS d
        GROUP BY d.address
    ) AS s
),

received AS (
    SELECT
        address,
        CAST(SUM(n) AS BIGINT) AS n,
        CAST(SUM(n_round_value) AS BIGINT) AS n_round_value,
        CAST(SUM(n_positive_value) AS BIGINT) AS n_positive_value,
        MIN(first_ts) AS first_received
    FROM state_ether
    WHERE role = 'received' AND address IN (SELECT address FROM ids)
    GROUP BY address
),

distinct_gas_prices AS (
    SELECT address, COUNT(DISTINCT key) AS n
    FROM state_ether_times
    WHERE kind = 'gas_price' AND address IN (SELECT address FROM ids)
    GROUP BY address
),

per_day AS (
    SELECT address, day, CAST(SUM(n) AS BIGINT) AS n
    FROM state_ether_times
    WHERE kind = 'hour' AND address IN (SELECT address FROM ids)
    GROUP BY address, day
),

days AS (
    SELECT address, COUNT(*) AS active_days, MAX(n) AS busiest, CAST(SUM(n) AS BIGINT) AS total
    FROM per_day
    GROUP BY address
),

per_hour AS (
    SELECT address, key AS hour, CAST(SUM(n) AS BIGINT) AS n
    FROM state_ether_times
    WHERE kind = 'hour' AND address IN (SELECT address FROM ids)
    GROUP BY address, key
),

hours AS (  -- entropy (bits) of the hour of day of the account's transactions
    SELECT address, -SUM(p * LOG2(p)) AS hour_entropy
    FROM (
        SELECT address, CAST(n AS DOUBLE) / SUM(n) OVER (PARTITION BY address) AS p
        FROM per_hour
    ) AS shares
    GROUP BY address
),

activity AS (  -- every address's transactions sent and received in the store
    SELECT address, role, CAST(SUM(n) AS BIGINT) AS n
    FROM state_ether
    WHERE role IN ('sent', 'received')
    GROUP BY address, role
),

recipients AS (  -- median activity of the distinct addresses it paid
    SELECT p.address, MEDIAN(COALESCE(r.n, 0)) AS median_recipient_received
    FROM (
        SELECT DISTINCT address, counterparty
        FROM state_ether_pairs
        WHERE role = 'sent' AND NOT is_creation AND address IN (SELECT address FROM ids)
    ) AS p
    LEFT JOIN activity AS r ON r.address = p.counterparty AND r.role = 'received'
    GROUP BY p.address
),

senders AS (  -- median activity of the distinct addresses that paid it
    SELECT p.address, MEDIAN(COALESCE(a.n, 0)) AS median_sender_sent
    FROM (
        SELECT DISTINCT address, counterparty
        FROM state_ether_pairs
        WHERE role = 'received' AND address IN (SELECT address FROM ids)
    ) AS p
    LEFT JOIN activity AS a ON a.address = p.counterparty AND a.role = 'sent'
    GROUP BY p.address
)

SELECT
    u.address,
    COALESCE(CAST(s.n_failed AS DOUBLE) / s.n, 0) AS failed_sent_share,
    COALESCE(CAST(s.n_calls AS DOUBLE) / s.n, 0) AS contract_call_share,
    COALESCE(CAST(s.n_zero_value AS DOUBLE) / s.n, 0) AS zero_value_sent_share,
    COALESCE(CAST(s.n_round_value AS DOUBLE) / NULLIF(s.n_positive_value, 0), 0)
        AS round_value_sent_share,
    COALESCE(CAST(r.n_round_value AS DOUBLE) / NULLIF(r.n_positive_value, 0), 0)
        AS round_value_received_share,
    COALESCE(s.gas_price_vs_day, 0) AS gas_price_vs_day,
    COALESCE(s.gas_price_cv, 0) AS gas_price_cv,
    COALESCE(CAST(g.n AS DOUBLE) / s.n, 0) AS distinct_gas_price_share,
    COALESCE(s.gas_used_ratio, 0) AS gas_used_ratio,
    COALESCE(d.active_days, 0) AS active_days,
    COALESCE(CAST(d.busiest AS DOUBLE) / d.total, 0) AS busiest_day_share,
    COALESCE(h.hour_entropy, 0) AS hour_entropy,
    CASE
        WHEN s.first_sent IS NULL OR r.first_received IS NULL THEN 0
        ELSE GREATEST(EPOCH(s.first_sent) - EPOCH(r.first_received), 0) / 60.0
    END AS first_received_to_first_sent_mins,
    COALESCE(CAST(se.median_sender_sent AS DOUBLE), 0) AS median_sender_activity,
    COALESCE(CAST(re.median_recipient_received AS DOUBLE), 0) AS median_recipient_activity
FROM ids AS u
LEFT JOIN sent AS s ON s.address = u.address
LEFT JOIN received AS r ON r.address = u.address
LEFT JOIN distinct_gas_prices AS g ON g.address = u.address
LEFT JOIN days AS d ON d.address = u.address
LEFT JOIN hours AS h ON h.address = u.address
LEFT JOIN senders AS se ON se.address = u.address
LEFT JOIN recipients AS re ON re.address = u.address
ORDER BY u.address
