-- Label-broadcast tokens found from data: tokens that one sender, or a handful, airdropped onto
-- addresses of the public scam lists. Receiving one is a third party's label written on chain,
-- not behaviour, so address_features leaves their transfers out. Rule: docs/features.md.
--
-- This file is the rule, the tail of a WITH: label_broadcast.py puts before it the two CTEs of
-- one source, `pairs(token_address, from_address, to_address, n, first_ts, last_ts)` (transfers
-- per sender, recipient and token, lowercase) and `names(token_address, token_name)`:
-- label_broadcast_pairs.sql from the raw transfers before $as_of, or
-- label_broadcast_pairs_from_state.sql from the feature state. Also defined by the caller:
-- `labelled_addresses(address)` (the label lists) and the named parameters $top_senders
-- (INTEGER) and the thresholds $min_recipients (INTEGER), $min_labelled_share and
-- $min_top_senders_share (DOUBLE).
--
-- Output: one row per token with a transfer before $as_of, most labelled recipients first: its
-- evidence (transfers, distinct recipients, distinct recipients on the lists and their share,
-- distinct senders, the share of its transfers sent by its $top_senders busiest senders, first
-- and last transfer), the share of the lists among the distinct recipients of every token (the
-- base rate to compare with) and `flagged`. Recipients are distinct addresses, never transfers.
--
-- Dialect: DuckDB.
labelled AS (SELECT DISTINCT lower(address) AS address FROM labelled_addresses),

recipients AS (  -- each (token, recipient) once, and whether the lists name the recipient
    SELECT r.token_address, r.to_address, l.address IS NOT NULL AS is_labelled
    FROM (SELECT DISTINCT token_address, to_address FROM pairs) AS r
    LEFT JOIN labelled AS l ON l.address = r.to_address
),

per_recipients AS (
    SELECT
        token_address,
        count(*) AS recipients,
        count(*) FILTER (WHERE is_labelled) AS labelled_recipients
    FROM recipients
    GROUP BY token_address
),

base AS (  -- the lists' share of all distinct token recipients
    SELECT
        CAST(count(*) FILTER (WHERE l.address IS NOT NULL) AS DOUBLE)
        / greatest(count(*), 1) AS base_labelled_share
    FROM (SELECT DISTINCT to_address FROM pairs) AS r
    LEFT JOIN labelled AS l ON l.address = r.to_address
),

per_sender AS (
    SELECT
        token_address,
        from_address,
        SUM(n) AS sent,
        row_number() OVER (
            PARTITION BY token_address ORDER BY SUM(n) DESC, from_address
        ) AS sender_rank
    FROM pairs
    GROUP BY token_address, from_address
),

per_senders AS (
    SELECT
        token_address,
        count(*) AS senders,
        sum(sent) FILTER (WHERE sender_rank <= $top_senders) AS top_sent
    FROM per_sender
    GROUP BY token_address
),

per_token AS (
    SELECT
        p.token_address,
        ANY_VALUE(m.token_name) AS token_name,
        CAST(SUM(p.n) AS BIGINT) AS transfers,
        MIN(p.first_ts) AS first_transfer,
        MAX(p.last_ts) AS last_transfer
    FROM pairs AS p
    LEFT JOIN names AS m ON m.token_address = p.token_address
    GROUP BY p.token_address
),

evidence AS (
    SELECT
        t.token_address,
        t.token_name,
        t.transfers,
        r.recipients,
        r.labelled_recipients,
        CAST(r.labelled_recipients AS DOUBLE) / r.recipients AS labelled_share,
        s.senders,
        CAST(s.top_sent AS DOUBLE) / t.transfers AS top_senders_share,
        t.first_transfer,
        t.last_transfer,
        b.base_labelled_share
    FROM per_token AS t
    JOIN per_recipients AS r ON r.token_address = t.token_address
    JOIN per_senders AS s ON s.token_address = t.token_address
    CROSS JOIN base AS b
)

SELECT
    *,
    recipients >= $min_recipients
    AND labelled_share >= $min_labelled_share
    AND top_senders_share >= $min_top_senders_share AS flagged
FROM evidence
ORDER BY flagged DESC, labelled_recipients DESC, token_address
