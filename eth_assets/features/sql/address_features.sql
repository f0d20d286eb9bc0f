-- Per-address features as of a cutoff: the Farrugia et al. (2020) features plus investor-profile
-- features, one row per address of `universe`. Exact definitions: docs/features.md.
--
-- Inputs, defined by the caller: `transactions` and `token_transfers` (the columns of
-- eth_assets/chain/schemas.py), `universe(address)`, and the named parameter $as_of (TIMESTAMPTZ):
-- only rows with block_timestamp < $as_of count.
--
-- Shape, for speed and bounded memory: the universe is numbered first (`ids`), so every join
-- after the first string match, every grouping and every window is keyed by a small integer.
-- Each role (sent, received, created; token sent, token received) is one scan joined to `ids`
-- and aggregated straight to one row per address; distinct counterparties are COUNT(DISTINCT)
-- within that aggregate. No correlated subqueries, no per-address work, no wide intermediate.
--
-- Conventions: ether sums stay exact DECIMAL(38, 0) wei until the final division by 1e18
-- (MIN/MAX are taken on DOUBLE casts, which is exact: the cast is monotonic). Token amounts are
-- uint256 strings, parsed to DOUBLE and scaled by 10^token_decimals (NULL, so left out of the
-- token value features, when the decimals are unknown). Counts count transactions whatever
-- their status; value features use successful ones (receipt_status NULL, before Byzantium,
-- counts as success). Empty sets give 0, never NULL; only the two token-name columns can be NULL.
--
-- Dialect: DuckDB, kept transpilable to BigQuery with sqlglot (read="duckdb"): FILTER becomes
-- IF() aggregates, DECIMAL(38, 0) becomes BIGNUMERIC, $as_of becomes @as_of. Not portable as
-- written (fix after transpiling): EPOCH(ts) is BigQuery's UNIX_SECONDS(ts).
WITH
ids AS (  -- the universe, numbered: every later join and grouping key is an integer
    SELECT address, CAST(ROW_NUMBER() OVER (ORDER BY address) AS INTEGER) AS uid
    FROM (SELECT DISTINCT address FROM universe) AS u
),

creations AS (  -- contract creations before the cutoff (read twice: small)
    SELECT
        from_address,
        receipt_contract_address,
        block_timestamp,
        CASE WHEN COALESCE(receipt_status, 1) <> 0 THEN value END AS value_ok
    FROM transactions
    WHERE to_address IS NULL AND block_timestamp < CAST($as_of AS TIMESTAMPTZ)
),

tx_sent AS (  -- per address: the transactions it sent (contract creations included)
    SELECT
        t.uid,
        COUNT(*) AS n,
        COUNT(*) FILTER (WHERE t.to_address IS NULL) AS n_created,
        COUNT(*) FILTER (WHERE t.from_address = t.to_address) AS n_self,
        COUNT(DISTINCT COALESCE(t.to_address, t.receipt_contract_address)) AS n_counterparties,
        EPOCH(MIN(t.block_timestamp)) AS first_ts,
        EPOCH(MAX(t.block_timestamp)) AS last_ts,
        COUNT(t.value_ok) AS n_ok,
        MIN(CAST(t.value_ok AS DOUBLE)) AS min_value,
        MAX(CAST(t.value_ok AS DOUBLE)) AS max_value,
        SUM(t.value_ok) AS sum_value,
        COUNT(t.value_to_contract) AS n_to_contract,
        MIN(CAST(t.value_to_contract AS DOUBLE)) AS min_to_contract,
        MAX(CAST(t.value_to_contract AS DOUBLE)) AS max_to_contract,
        SUM(t.value_to_contract) AS sum_to_contract,
        SUM(t.fee) AS sum_fee
    FROM (
        SELECT
            a.uid,
            t.from_address,
            t.to_address,
            t.receipt_contract_address,
            t.block_timestamp,
            CASE WHEN COALESCE(t.receipt_status, 1) <> 0 THEN t.value END AS value_ok,
            -- ether into a contract: a creation, or a call that ran code (more gas than the
            -- 21000 of a plain transfer)
            CASE
                WHEN COALESCE(t.receipt_status, 1) <> 0
                    AND (t.to_address IS NULL OR t.receipt_gas_used > 21000)
                    THEN t.value
            END AS value_to_contract,
            CAST(t.receipt_gas_used AS DECIMAL(38, 0))
            * CAST(COALESCE(t.receipt_effective_gas_price, t.gas_price) AS DECIMAL(38, 0))
                AS fee
        FROM transactions AS t
        INNER JOIN ids AS a ON t.from_address = a.address
        WHERE t.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
    ) AS t
    GROUP BY t.uid
),

tx_received AS (  -- per address: the transactions it received
    SELECT
        t.uid,
        COUNT(*) AS n,
        COUNT(DISTINCT t.from_address) AS n_counterparties,
        EPOCH(MIN(t.block_timestamp)) AS first_ts,
        EPOCH(MAX(t.block_timestamp)) AS last_ts,
        COUNT(t.value_ok) AS n_ok,
        MIN(CAST(t.value_ok AS DOUBLE)) AS min_value,
        MAX(CAST(t.value_ok AS DOUBLE)) AS max_value,
        SUM(t.value_ok) AS sum_value
    FROM (
        SELECT
            a.uid,
            t.from_address,
            t.block_timestamp,
            CASE WHEN COALESCE(t.receipt_status, 1) <> 0 THEN t.value END AS value_ok
        FROM transactions AS t
        INNER JOIN ids AS a ON t.to_address = a.address
        WHERE t.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
    ) AS t
    GROUP BY t.uid
),

tx_created AS (  -- per address: its own creation (when it is a contract), with its endowment
    SELECT
        a.uid,
        COUNT(*) AS n,
        EPOCH(MIN(c.block_timestamp)) AS first_ts,
        EPOCH(MAX(c.block_timestamp)) AS last_ts,
        SUM(c.value_ok) AS sum_value
    FROM creations AS c
    INNER JOIN ids AS a ON c.receipt_contract_address = a.address
    GROUP BY a.uid
),

tx_stats AS (  -- one row per address; times are Unix seconds, values wei
    SELECT
        a.uid,
        COALESCE(s.n, 0) AS n_sent,
        COALESCE(r.n, 0) AS n_received,
        COALESCE(c.n, 0) AS n_own_creation,
        COALESCE(s.n_created, 0) AS n_created,
        COALESCE(s.n_self, 0) AS n_self,
        COALESCE(s.n_counterparties, 0) AS n_uniq_to,
        COALESCE(r.n_counterparties, 0) AS n_uniq_from,
        -- latest minus earliest over the three roles; each COALESCE list is non-NULL as soon
        -- as one role is (GREATEST/LEAST treat NULL differently in DuckDB and BigQuery)
        GREATEST(
            COALESCE(s.last_ts, r.last_ts, c.last_ts),
            COALESCE(r.last_ts, c.last_ts, s.last_ts),
            COALESCE(c.last_ts, s.last_ts, r.last_ts)
        ) - LEAST(
            COALESCE(s.first_ts, r.first_ts, c.first_ts),
            COALESCE(r.first_ts, c.first_ts, s.first_ts),
            COALESCE(c.first_ts, s.first_ts, r.first_ts)
        ) AS span_all,
        s.last_ts - s.first_ts AS span_sent,
        r.last_ts - r.first_ts AS span_received,
        s.n_ok AS n_sent_ok,
        s.min_value AS min_sent,
        s.max_value AS max_sent,
        s.sum_value AS sum_sent,
        r.n_ok AS n_received_ok,
        r.min_value AS min_received,
        r.max_value AS max_received,
        r.sum_value AS sum_received,
        c.sum_value AS sum_endowment,
        s.n_to_contract,
        s.min_to_contract,
        s.max_to_contract,
        s.sum_to_contract,
        s.sum_fee
    FROM ids AS a
    LEFT JOIN tx_sent AS s ON a.uid = s.uid
    LEFT JOIN tx_received AS r ON a.uid = r.uid
    LEFT JOIN tx_created AS c ON a.uid = c.uid
),

tok_sent AS (  -- token transfers sent by universe addresses
    SELECT
        a.uid,
        t.token_address,
        t.to_address,
        t.transaction_hash,
        t.block_timestamp,
        t.token_name,
        t.token_decimals,
        t.value,
        t.from_address = t.to_address AS is_self
    FROM token_transfers AS t
    INNER JOIN ids AS a ON t.from_address = a.address
    WHERE t.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
),

tok_recipients AS (  -- the only addresses whose kind (contract or not) matters
    SELECT DISTINCT to_address AS address
    FROM tok_sent
),

contracts AS (  -- recipients the input shows to be contracts: token contracts, contracts
    -- created by a transaction, and recipients of a call that ran code (more gas than the
    -- 21000 of a plain transfer)
    SELECT t.token_address AS address
    FROM token_transfers AS t
    WHERE t.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
        AND t.token_address IN (SELECT r.address FROM tok_recipients AS r)
    UNION
    SELECT c.receipt_contract_address AS address
    FROM creations AS c
    WHERE c.receipt_contract_address IN (SELECT r.address FROM tok_recipients AS r)
    UNION
    SELECT t.to_address AS address
    FROM transactions AS t
    WHERE t.receipt_gas_used > 21000 AND t.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
        AND t.to_address IN (SELECT r.address FROM tok_recipients AS r)
),

tok_sent_stats AS (  -- per address: the token transfers it sent
    SELECT
        s.uid,
        COUNT(*) AS n,
        COUNT(*) FILTER (WHERE s.is_self) AS n_self,
        COUNT(DISTINCT s.to_address) AS n_counterparties,
        EPOCH(MAX(s.block_timestamp)) - EPOCH(MIN(s.block_timestamp)) AS span,
        COUNT(s.amount) AS n_amount,
        MIN(s.amount) AS min_amount,
        MAX(s.amount) AS max_amount,
        SUM(s.amount) AS sum_amount,
        COUNT(*) FILTER (WHERE s.to_contract) AS n_to_contract,
        EPOCH(MAX(s.block_timestamp) FILTER (WHERE s.to_contract))
        - EPOCH(MIN(s.block_timestamp) FILTER (WHERE s.to_contract)) AS span_to_contract,
        COUNT(s.amount) FILTER (WHERE s.to_contract) AS n_amount_to_contract,
        MIN(s.amount) FILTER (WHERE s.to_contract) AS min_to_contract,
        MAX(s.amount) FILTER (WHERE s.to_contract) AS max_to_contract,
        SUM(s.amount) FILTER (WHERE s.to_contract) AS sum_to_contract
    FROM (
        SELECT
            uid,
            to_address,
            block_timestamp,
            is_self,
            to_address IN (SELECT c.address FROM contracts AS c) AS to_contract,
            -- token units as DOUBLE (no overflow); NULL when the decimals are unknown
            TRY_CAST(value AS DOUBLE) / POWER(10.0, token_decimals) AS amount
        FROM tok_sent
    ) AS s
    GROUP BY s.uid
),

tok_received_stats AS (  -- per address: the token transfers it received
    SELECT
        r.uid,
        COUNT(*) AS n,
        COUNT(DISTINCT r.from_address) AS n_counterparties,
        EPOCH(MAX(r.block_timestamp)) - EPOCH(MIN(r.block_timestamp)) AS span,
        COUNT(r.amount) AS n_amount,
        MIN(r.amount) AS min_amount,
        MAX(r.amount) AS max_amount,
        SUM(r.amount) AS sum_amount
    FROM (
        SELECT
            a.uid,
            t.from_address,
            t.block_timestamp,
            TRY_CAST(t.value AS DOUBLE) / POWER(10.0, t.token_decimals) AS amount
        FROM token_transfers AS t
        INNER JOIN ids AS a ON t.to_address = a.address
        WHERE t.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
    ) AS r
    GROUP BY r.uid
),

tok_stats AS (  -- one row per address with token activity
    SELECT
        a.uid,
        COALESCE(s.n, 0) AS n_sent,
        COALESCE(r.n, 0) AS n_received,
        COALESCE(s.n_self, 0) AS n_self,
        COALESCE(s.n_counterparties, 0) AS n_uniq_to,
        COALESCE(r.n_counterparties, 0) AS n_uniq_from,
        s.span AS span_sent,
        r.span AS span_received,
        s.min_amount AS min_sent,
        s.max_amount AS max_sent,
        s.sum_amount AS sum_sent,
        s.n_amount AS n_amount_sent,
        r.min_amount AS min_received,
        r.max_amount AS max_received,
        r.sum_amount AS sum_received,
        r.n_amount AS n_amount_received,
        COALESCE(s.n_to_contract, 0) AS n_to_contract,
        s.span_to_contract,
        s.min_to_contract,
        s.max_to_contract,
        s.sum_to_contract,
        s.n_amount_to_contract
    FROM ids AS a
    LEFT JOIN tok_sent_stats AS s ON a.uid = s.uid
    LEFT JOIN tok_received_stats AS r ON a.uid = r.uid
),

tok_legs AS (  -- one row per (address, token transfer, side): what the per-token parts need
    SELECT
        uid,
        'sent' AS role,
        token_address,
        transaction_hash,
        NULLIF(token_name, '') AS token_name,
        value,
        -1 AS sign
    FROM tok_sent
    UNION ALL
    SELECT
        a.uid,
        'received' AS role,
        t.token_address,
        t.transaction_hash,
        NULLIF(t.token_name, '') AS token_name,
        t.value,
        1 AS sign
    FROM token_transfers AS t
    INNER JOIN ids AS a ON t.to_address = a.address
    WHERE t.block_timestamp < CAST($as_of AS TIMESTAMPTZ)
),

tok_transactions AS (  -- distinct transactions with a token transfer of the address
    SELECT uid, COUNT(DISTINCT transaction_hash) AS n_transactions
    FROM tok_legs
    GROUP BY uid
),

tok_tokens AS (  -- per (address, token): transfers per side and the exact raw balance, as
    -- three sums of 26-digit parts: a uint256 value (up to 78 digits) is
    -- p2 * 10^52 + p1 * 10^26 + p0. Each part is below 10^26, so its sum over fewer than 10^12
    -- transfers cannot overflow DECIMAL(38, 0). A value that is not a digit string of at most
    -- 78 digits adds nothing.
    SELECT
        uid,
        token_address,
        MAX(token_name) AS token_name,
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
    FROM (
        SELECT
            uid,
            token_address,
            token_name,
            role,
            CAST(sign AS DECIMAL(38, 0)) AS sign,
            CASE WHEN REGEXP_MATCHES(value, '^[0-9]{1,78}$') THEN value END AS digits
        FROM tok_legs
    ) AS l
    GROUP BY uid, token_address
),

tok_token_stats AS (
    SELECT
        uid,
        COUNT(*) FILTER (WHERE n_sent > 0) AS n_sent_tokens,
        COUNT(*) FILTER (WHERE n_received > 0) AS n_received_tokens,
        -- positive balance p2 * 10^52 + p1 * 10^26 + p0, decided exactly without overflow:
        -- |p1 * 10^26 + p0| < 2n * 10^52, so a larger |p2| alone decides the sign; else
        -- q = p2 * 10^26 + p1 is small, and as |p0| < n * 10^26, |q| > n decides it; else
        -- q * 10^26 + p0 fits DECIMAL(38, 0) and is the balance itself
        COUNT(*) FILTER (
            WHERE CASE
                WHEN q IS NULL THEN p2 > 0
                WHEN ABS(q) > n THEN q > 0
                ELSE q * e26 + p0 > 0
            END
        ) AS n_held
    FROM (
        SELECT
            uid,
            n,
            n_sent,
            n_received,
            p2,
            p0,
            e26,
            CASE WHEN ABS(p2) <= 2 * n THEN p2 * e26 + p1 END AS q
        FROM (
            SELECT
                t.*,
                CAST('100000000000000000000000000' AS DECIMAL(38, 0)) AS e26  -- 10^26
            FROM tok_tokens AS t
        ) AS t
    ) AS t
    GROUP BY uid
),

tok_names AS (  -- per (address, token name): transfers per side, names ranked by frequency
    SELECT
        uid,
        token_name,
        SUM(n_sent) AS n_sent,
        SUM(n_received) AS n_received,
        ROW_NUMBER() OVER (
            PARTITION BY uid ORDER BY SUM(n_sent) DESC, token_name ASC
        ) AS sent_rank,
        ROW_NUMBER() OVER (
            PARTITION BY uid ORDER BY SUM(n_received) DESC, token_name ASC
        ) AS received_rank
    FROM tok_tokens
    WHERE token_name IS NOT NULL
    GROUP BY uid, token_name
),

tok_name_stats AS (  -- the most frequent name per side; ties go to the smallest name
    SELECT
        uid,
        COUNT(*) FILTER (WHERE n_sent > 0) AS n_sent_names,
        COUNT(*) FILTER (WHERE n_received > 0) AS n_received_names,
        MAX(token_name) FILTER (WHERE sent_rank = 1 AND n_sent > 0) AS most_sent_name,
        MAX(token_name) FILTER (WHERE received_rank = 1 AND n_received > 0) AS most_received_name
    FROM tok_names
    GROUP BY uid
)

SELECT
    a.address,
    -- Farrugia et al. (2020), ether: times in minutes, values in ETH
    CASE
        WHEN s.n_sent > 1 THEN s.span_sent / 60.0 / (s.n_sent - 1) ELSE 0.0
    END AS avg_min_between_sent_tnx,
    CASE
        WHEN s.n_received > 1 THEN s.span_received / 60.0 / (s.n_received - 1) ELSE 0.0
    END AS avg_min_between_received_tnx,
    COALESCE(s.span_all / 60.0, 0.0) AS time_diff_between_first_and_last_mins,
    COALESCE(s.n_sent, 0) AS sent_tnx,
    COALESCE(s.n_received, 0) AS received_tnx,
    COALESCE(s.n_created, 0) AS number_of_created_contracts,
    COALESCE(s.n_uniq_from, 0) AS unique_received_from_addresses,
    COALESCE(s.n_uniq_to, 0) AS unique_sent_to_addresses,
    COALESCE(s.min_received / 1e18, 0.0) AS min_value_received,
    COALESCE(s.max_received / 1e18, 0.0) AS max_value_received,
    COALESCE(CAST(s.sum_received AS DOUBLE) / 1e18 / s.n_received_ok, 0.0) AS avg_val_received,
    COALESCE(s.min_sent / 1e18, 0.0) AS min_val_sent,
    COALESCE(s.max_sent / 1e18, 0.0) AS max_val_sent,
    COALESCE(CAST(s.sum_sent AS DOUBLE) / 1e18 / s.n_sent_ok, 0.0) AS avg_val_sent,
    COALESCE(s.min_to_contract / 1e18, 0.0) AS min_value_sent_to_contract,
    COALESCE(s.max_to_contract / 1e18, 0.0) AS max_val_sent_to_contract,
    COALESCE(
        CAST(s.sum_to_contract AS DOUBLE) / 1e18 / s.n_to_contract, 0.0
    ) AS avg_value_sent_to_contract,
    COALESCE(s.n_sent + s.n_received - s.n_self + s.n_own_creation, 0) AS total_transactions,
    COALESCE(CAST(s.sum_sent AS DOUBLE) / 1e18, 0.0) AS total_ether_sent,
    COALESCE(CAST(s.sum_received AS DOUBLE) / 1e18, 0.0) AS total_ether_received,
    COALESCE(CAST(s.sum_to_contract AS DOUBLE) / 1e18, 0.0) AS total_ether_sent_contracts,
    COALESCE(
        CAST(COALESCE(s.sum_received, 0) - COALESCE(s.sum_sent, 0) AS DOUBLE) / 1e18, 0.0
    ) AS total_ether_balance,
    -- Farrugia et al. (2020), tokens: amounts in token units, times in minutes
    COALESCE(k.n_sent + k.n_received - k.n_self, 0) AS total_erc20_tnxs,
    COALESCE(k.sum_received, 0.0) AS erc20_total_ether_received,
    COALESCE(k.sum_sent, 0.0) AS erc20_total_ether_sent,
    COALESCE(k.sum_to_contract, 0.0) AS erc20_total_ether_sent_contract,
    COALESCE(k.n_uniq_to, 0) AS erc20_uniq_sent_addr,
    COALESCE(k.n_uniq_from, 0) AS erc20_uniq_rec_addr,
    COALESCE(g.n_sent_tokens, 0) AS erc20_uniq_sent_contract_addr,
    COALESCE(g.n_received_tokens, 0) AS erc20_uniq_rec_contract_addr,
    CASE
        WHEN k.n_sent > 1 THEN k.span_sent / 60.0 / (k.n_sent - 1) ELSE 0.0
    END AS erc20_avg_time_between_sent_tnx,
    CASE
        WHEN k.n_received > 1 THEN k.span_received / 60.0 / (k.n_received - 1) ELSE 0.0
    END AS erc20_avg_time_between_rec_tnx,
    CASE  -- the published collector writes the received average twice; so do we
        WHEN k.n_received > 1 THEN k.span_received / 60.0 / (k.n_received - 1) ELSE 0.0
    END AS erc20_avg_time_between_rec_2_tnx,
    CASE
        WHEN k.n_to_contract > 1 THEN k.span_to_contract / 60.0 / (k.n_to_contract - 1)
        ELSE 0.0
    END AS erc20_avg_time_between_contract_tnx,
    COALESCE(k.min_received, 0.0) AS erc20_min_val_rec,
    COALESCE(k.max_received, 0.0) AS erc20_max_val_rec,
    COALESCE(k.sum_received / k.n_amount_received, 0.0) AS erc20_avg_val_rec,
    COALESCE(k.min_sent, 0.0) AS erc20_min_val_sent,
    COALESCE(k.max_sent, 0.0) AS erc20_max_val_sent,
    COALESCE(k.sum_sent / k.n_amount_sent, 0.0) AS erc20_avg_val_sent,
    COALESCE(k.min_to_contract, 0.0) AS erc20_min_val_sent_contract,
    COALESCE(k.max_to_contract, 0.0) AS erc20_max_val_sent_contract,
    COALESCE(k.sum_to_contract / k.n_amount_to_contract, 0.0) AS erc20_avg_val_sent_contract,
    COALESCE(m.n_sent_names, 0) AS erc20_uniq_sent_token_name,
    COALESCE(m.n_received_names, 0) AS erc20_uniq_rec_token_name,
    m.most_sent_name AS erc20_most_sent_token_type,
    m.most_received_name AS erc20_most_rec_token_type,
    COALESCE((s.max_sent - s.min_sent) / 1e18, 0.0) AS sent_diff_between_max_and_min,
    -- investor profile
    CAST(
        COALESCE(s.sum_received, 0) + COALESCE(s.sum_endowment, 0)
        - COALESCE(s.sum_sent, 0) - COALESCE(s.sum_fee, 0) AS DOUBLE
    ) / 1e18 AS balance_eth,
    COALESCE(g.n_held, 0) AS unique_tokens_held,
    COALESCE(x.n_transactions, 0) AS unique_token_transfers
FROM ids AS a
LEFT JOIN tx_stats AS s ON a.uid = s.uid
LEFT JOIN tok_stats AS k ON a.uid = k.uid
LEFT JOIN tok_transactions AS x ON a.uid = x.uid
LEFT JOIN tok_token_stats AS g ON a.uid = g.uid
LEFT JOIN tok_name_stats AS m ON a.uid = m.uid
