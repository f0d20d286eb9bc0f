-- address_features.sql computed from the feature state instead of the raw history: the same
-- columns, types and values (integers exactly, floats to rounding), one row per address of
-- `universe`. The merge rule of each part is in docs/features.md#incremental-features.
--
-- Inputs, defined by the caller: `universe(address)` and the state up to the cutoff (every day
-- before the cutoff's day, plus that day's rows before the cutoff): `state_ether`
-- (feature_state_ether.sql), `state_ether_pairs`, `state_tokens`, `state_token_balances`,
-- `state_token_transactions`, `state_contracts`; and `excluded_tokens(token_address)`, the
-- label-broadcast tokens left out (their transfers count nowhere, as when the token view of
-- address_features.sql leaves them out). No parameter: the state holds only what counts.
-- Dialect: DuckDB.
WITH
ids AS (SELECT DISTINCT address FROM universe),

contracts AS (  -- the contracts known at the cutoff, by transfers of kept tokens or transactions
    SELECT DISTINCT address
    FROM state_contracts
    WHERE token_address IS NULL
        OR token_address NOT IN (SELECT token_address FROM excluded_tokens)
),

ether AS (  -- the universe's rows of the ether state, merged over days per role
    SELECT
        e.address,
        e.role,
        CAST(SUM(e.n) AS BIGINT) AS n,
        CAST(SUM(e.n_created) AS BIGINT) AS n_created,
        CAST(SUM(e.n_self) AS BIGINT) AS n_self,
        EPOCH(MIN(e.first_ts)) AS first_ts,
        EPOCH(MAX(e.last_ts)) AS last_ts,
        CAST(SUM(e.n_ok) AS BIGINT) AS n_ok,
        MIN(e.min_value) AS min_value,
        MAX(e.max_value) AS max_value,
        SUM(e.sum_value) AS sum_value,
        CAST(SUM(e.n_to_contract) AS BIGINT) AS n_to_contract,
        MIN(e.min_to_contract) AS min_to_contract,
        MAX(e.max_to_contract) AS max_to_contract,
        SUM(e.sum_to_contract) AS sum_to_contract,
        SUM(e.sum_fee) AS sum_fee
    FROM state_ether AS e
    INNER JOIN ids AS a ON a.address = e.address
    GROUP BY e.address, e.role
),

ether_counterparties AS (  -- distinct counterparties per role: a pair counts once
    SELECT address, role, COUNT(DISTINCT counterparty) AS n_counterparties
    FROM state_ether_pairs
    WHERE address IN (SELECT address FROM ids)
    GROUP BY address, role
),

tx_stats AS (  -- as address_features.sql tx_stats
    SELECT
        a.address,
        COALESCE(s.n, 0) AS n_sent,
        COALESCE(r.n, 0) AS n_received,
        COALESCE(c.n, 0) AS n_own_creation,
        COALESCE(s.n_created, 0) AS n_created,
        COALESCE(s.n_self, 0) AS n_self,
        COALESCE(sp.n_counterparties, 0) AS n_uniq_to,
        COALESCE(rp.n_counterparties, 0) AS n_uniq_from,
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
    LEFT JOIN ether AS s ON s.address = a.address AND s.role = 'sent'
    LEFT JOIN ether AS r ON r.address = a.address AND r.role = 'received'
    LEFT JOIN ether AS c ON c.address = a.address AND c.role = 'created'
    LEFT JOIN ether_counterparties AS sp ON sp.address = a.address AND sp.role = 'sent'
    LEFT JOIN ether_counterparties AS rp ON rp.address = a.address AND rp.role = 'received'
),

token_pairs AS (  -- the universe's token pairs merged over days, each marked when the
    -- counterparty is a contract known at the cutoff (only the sent side asks)
    SELECT
        p.address,
        p.role,
        p.counterparty,
        p.role = 'sent' AND p.counterparty IN (SELECT address FROM contracts) AS to_contract,
        CAST(SUM(p.n) AS BIGINT) AS n,
        CAST(SUM(p.n_self) AS BIGINT) AS n_self,
        MIN(p.first_ts) AS first_ts,
        MAX(p.last_ts) AS last_ts,
        CAST(SUM(p.n_amount) AS BIGINT) AS n_amount,
        MIN(p.min_amount) AS min_amount,
        MAX(p.max_amount) AS max_amount,
        SUM(p.sum_amount) AS sum_amount
    FROM state_tokens AS p
    WHERE p.address IN (SELECT address FROM ids)
        AND p.token_address NOT IN (SELECT token_address FROM excluded_tokens)
    GROUP BY p.address, p.role, p.counterparty
),

token_roles AS (
    SELECT
        address,
        role,
        CAST(SUM(n) AS BIGINT) AS n,
        CAST(SUM(n_self) AS BIGINT) AS n_self,
        COUNT(DISTINCT counterparty) AS n_counterparties,
        EPOCH(MAX(last_ts)) - EPOCH(MIN(first_ts)) AS span,
        CAST(SUM(n_amount) AS BIGINT) AS n_amount,
        MIN(min_amount) AS min_amount,
        MAX(max_amount) AS max_amount,
        SUM(sum_amount) AS sum_amount,
        CAST(SUM(n) FILTER (WHERE to_contract) AS BIGINT) AS n_to_contract,
        EPOCH(MAX(last_ts) FILTER (WHERE to_contract))
        - EPOCH(MIN(first_ts) FILTER (WHERE to_contract)) AS span_to_contract,
        CAST(SUM(n_amount) FILTER (WHERE to_contract) AS BIGINT) AS n_amount_to_contract,
        MIN(min_amount) FILTER (WHERE to_contract) AS min_to_contract,
        MAX(max_amount) FILTER (WHERE to_contract) AS max_to_contract,
        SUM(sum_amount) FILTER (WHERE to_contract) AS sum_to_contract
    FROM token_pairs
    GROUP BY address, role
),

tok_stats AS (  -- as address_features.sql tok_stats
    SELECT
        a.address,
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
    LEFT JOIN token_roles AS s ON s.address = a.address AND s.role = 'sent'
    LEFT JOIN token_roles AS r ON r.address = a.address AND r.role = 'received'
),

tok_transactions AS (  -- distinct transactions with a transfer of a kept token
    SELECT address, COUNT(DISTINCT transaction_hash) AS n_transactions
    FROM state_token_transactions
    WHERE address IN (SELECT address FROM ids)
        AND token_address NOT IN (SELECT token_address FROM excluded_tokens)
    GROUP BY address
),

tok_tokens AS (  -- per (address, token), merged over days: as address_features.sql tok_tokens
    SELECT
        address,
        token_address,
        MAX(token_name) AS token_name,
        CAST(SUM(n) AS BIGINT) AS n,
        CAST(SUM(n_sent) AS BIGINT) AS n_sent,
        CAST(SUM(n_received) AS BIGINT) AS n_received,
        SUM(p2) AS p2,
        SUM(p1) AS p1,
        SUM(p0) AS p0
    FROM state_token_balances
    WHERE address IN (SELECT address FROM ids)
        AND token_address NOT IN (SELECT token_address FROM excluded_tokens)
    GROUP BY address, token_address
),

tok_token_stats AS (  -- as address_features.sql tok_token_stats
    SELECT
        address,
        COUNT(*) FILTER (WHERE n_sent > 0) AS n_sent_tokens,
        COUNT(*) FILTER (WHERE n_received > 0) AS n_received_tokens,
        COUNT(*) FILTER (
            WHERE CASE
                WHEN q IS NULL THEN p2 > 0
                WHEN ABS(q) > n THEN q > 0
                ELSE q * e26 + p0 > 0
            END
        ) AS n_held
    FROM (
        SELECT
            address,
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
    GROUP BY address
),

tok_names AS (  -- as address_features.sql tok_names
    SELECT
        address,
        token_name,
        CAST(SUM(n_sent) AS BIGINT) AS n_sent,
        CAST(SUM(n_received) AS BIGINT) AS n_received,
        ROW_NUMBER() OVER (
            PARTITION BY address ORDER BY SUM(n_sent) DESC, token_name ASC
        ) AS sent_rank,
        ROW_NUMBER() OVER (
            PARTITION BY address ORDER BY SUM(n_received) DESC, token_name ASC
        ) AS received_rank
    FROM tok_tokens
    WHERE token_name IS NOT NULL
    GROUP BY address, token_name
),

tok_name_stats AS (
    SELECT
        address,
        COUNT(*) FILTER (WHERE n_sent > 0) AS n_sent_names,
        COUNT(*) FILTER (WHERE n_received > 0) AS n_received_names,
        MAX(token_name) FILTER (WHERE sent_rank = 1 AND n_sent > 0) AS most_sent_name,
        MAX(token_name) FILTER (WHERE received_rank = 1 AND n_received > 0) AS most_received_name
    FROM tok_names
    GROUP BY address
)

SELECT
    a.address,
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
    CASE
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
    CAST(
        COALESCE(s.sum_received, 0) + COALESCE(s.sum_endowment, 0)
        - COALESCE(s.sum_sent, 0) - COALESCE(s.sum_fee, 0) AS DOUBLE
    ) / 1e18 AS balance_eth,
    COALESCE(g.n_held, 0) AS unique_tokens_held,
    COALESCE(x.n_transactions, 0) AS unique_token_transfers
FROM ids AS a
LEFT JOIN tx_stats AS s ON a.address = s.address
LEFT JOIN tok_stats AS k ON a.address = k.address
LEFT JOIN tok_transactions AS x ON a.address = x.address
LEFT JOIN tok_token_stats AS g ON a.address = g.address
LEFT JOIN tok_name_stats AS m ON a.address = m.address
