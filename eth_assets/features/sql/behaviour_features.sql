-- Behaviour the 44 Farrugia features miss, one row per address of `universe`, as of a cutoff:
-- how an account pays for gas (against the day's chain-wide average: raw gas prices mostly tell the date), whether its transactions call contracts or fail, how its
-- activity is spread over time, how round its amounts are, and how active its counterparties
-- are in the store. Definitions: docs/features.md#behaviour-features.
--
-- Inputs, defined by the caller: `transactions` (the columns of eth_assets/chain/schemas.py),
-- `universe(address)`, `market_gas_price(day, gas_price)` (the chain-wide average gas price of
-- each day: from the store when it holds the full chain, else from a reference file; see
-- eth_assets/features/feature_tables.py register_market_gas), and the named parameter $as_of (TIMESTAMPTZ):
-- only rows with block_timestamp < $as_of count. Empty sets give 0, never NULL.
--
-- Dialect: DuckDB.
WITH
ids AS (SELECT DISTINCT address FROM universe),

tx AS (  -- transactions before the cutoff
    SELECT
        from_address,
        to_address,
        value,
        gas,
        gas_price,
        receipt_gas_used,
        receipt_status,
        block_timestamp
    FROM transactions
    WHERE block_timestamp < CAST($as_of AS TIMESTAMPTZ)
),

sender_activity AS (  -- transactions each address sent, in the store
    SELECT from_address AS address, COUNT(*) AS sent
    FROM tx
    GROUP BY from_address
),

day_gas AS (  -- the chain-wide average gas price of each day: what the market paid
    SELECT day, gas_price AS market_gas_price FROM market_gas_price
),

recipient_activity AS (  -- transactions each address received, in the store
    SELECT to_address AS address, COUNT(*) AS received
    FROM tx
    WHERE to_address IS NOT NULL
    GROUP BY to_address
),

sent AS (  -- per universe address: how it sends
    SELECT
        u.address,
        COUNT(*) AS n,
        COUNT(*) FILTER (WHERE t.receipt_status = 0) AS failed,
        COUNT(*) FILTER (
            WHERE COALESCE(t.receipt_gas_used, t.gas) > 21000 OR t.to_address IS NULL
        ) AS calls,
        COUNT(*) FILTER (WHERE t.value = 0) AS zero_value,
        COUNT(*) FILTER (
            WHERE t.value > 0 AND t.value % CAST(10000000000000000 AS DECIMAL(38, 0)) = 0
        ) AS round_value,
        COUNT(*) FILTER (WHERE t.value > 0) AS positive_value,
        AVG(CAST(t.gas_price AS DOUBLE) / NULLIF(g.market_gas_price, 0)) AS gas_price_vs_day,
        STDDEV_POP(t.gas_price) / NULLIF(AVG(t.gas_price), 0) AS gas_price_cv,
        COUNT(DISTINCT t.gas_price) AS distinct_gas_prices,
        AVG(CAST(t.receipt_gas_used AS DOUBLE) / NULLIF(t.gas, 0)) AS gas_used_ratio,
        MIN(t.block_timestamp) AS first_sent
    FROM ids AS u
    JOIN tx AS t ON t.from_address = u.address
    LEFT JOIN day_gas AS g ON g.day = CAST(t.block_timestamp AS DATE)
    GROUP BY u.address
),

recipients AS (  -- per universe address: median activity of the distinct addresses it paid
    SELECT p.address, MEDIAN(COALESCE(r.received, 0)) AS median_recipient_received
    FROM (
        SELECT DISTINCT u.address, t.to_address
        FROM ids AS u
        JOIN tx AS t ON t.from_address = u.address
        WHERE t.to_address IS NOT NULL
    ) AS p
    LEFT JOIN recipient_activity AS r ON r.address = p.to_address
    GROUP BY p.address
),

senders AS (  -- per universe address: median activity of the distinct addresses that paid it
    SELECT p.address, MEDIAN(COALESCE(a.sent, 0)) AS median_sender_sent
    FROM (
        SELECT DISTINCT u.address, t.from_address
        FROM ids AS u
        JOIN tx AS t ON t.to_address = u.address
    ) AS p
    LEFT JOIN sender_activity AS a ON a.address = p.from_address
    GROUP BY p.address
),

received AS (  -- per universe address: what it receives and from whom
    SELECT
        u.address,
        COUNT(*) AS n,
        COUNT(*) FILTER (
            WHERE t.value > 0 AND t.value % CAST(10000000000000000 AS DECIMAL(38, 0)) = 0
        ) AS round_value,
        COUNT(*) FILTER (WHERE t.value > 0) AS positive_value,
        MIN(t.block_timestamp) AS first_received
    FROM ids AS u
    JOIN tx AS t ON t.to_address = u.address
    GROUP BY u.address
),

moments AS (  -- every transaction of a universe address, either side
    SELECT u.address, t.block_timestamp
    FROM ids AS u
    JOIN tx AS t ON t.from_address = u.address
    UNION ALL
    SELECT u.address, t.block_timestamp
    FROM ids AS u
    JOIN tx AS t ON t.to_address = u.address
),

per_day AS (
    SELECT address, CAST(block_timestamp AS DATE) AS day, COUNT(*) AS n
    FROM moments
    GROUP BY address, CAST(block_timestamp AS DATE)
),

days AS (
    SELECT address, COUNT(*) AS active_days, MAX(n) AS busiest, SUM(n) AS total
    FROM per_day
    GROUP BY address
),

per_hour AS (
    SELECT address, EXTRACT(HOUR FROM block_timestamp) AS hour, COUNT(*) AS n
    FROM moments
    GROUP BY address, EXTRACT(HOUR FROM block_timestamp)
),

hours AS (  -- entropy (bits) of the hour of day of the account's transactions
    SELECT address, -SUM(p * LOG2(p)) AS hour_entropy
    FROM (
        SELECT address, CAST(n AS DOUBLE) / SUM(n) OVER (PARTITION BY address) AS p
        FROM per_hour
    ) AS shares
    GROUP BY address
)

SELECT
    u.address,
    COALESCE(CAST(s.failed AS DOUBLE) / s.n, 0) AS failed_sent_share,
    COALESCE(CAST(s.calls AS DOUBLE) / s.n, 0) AS contract_call_share,
    COALESCE(CAST(s.zero_value AS DOUBLE) / s.n, 0) AS zero_value_sent_share,
    COALESCE(CAST(s.round_value AS DOUBLE) / NULLIF(s.positive_value, 0), 0)
        AS round_value_sent_share,
    COALESCE(CAST(r.round_value AS DOUBLE) / NULLIF(r.positive_value, 0), 0)
        AS round_value_received_share,
    COALESCE(s.gas_price_vs_day, 0) AS gas_price_vs_day,
    COALESCE(s.gas_price_cv, 0) AS gas_price_cv,
    COALESCE(CAST(s.distinct_gas_prices AS DOUBLE) / s.n, 0) AS distinct_gas_price_share,
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
LEFT JOIN days AS d ON d.address = u.address
LEFT JOIN hours AS h ON h.address = u.address
LEFT JOIN senders AS se ON se.address = u.address
LEFT JOIN recipients AS re ON re.address = u.address
ORDER BY u.address
