-- Label-broadcast tokens found from data: tokens that one sender, or a handful, airdropped onto
-- addresses of the public scam lists. Receiving one is a third party's label written on chain,
-- not behaviour, so address_features leaves their transfers out. Rule: docs/features.md.
--
-- Inputs, defined by the caller: `token_transfers` (the columns of eth_assets/chain/schemas.py),
-- `labelled_addresses(address)` (the label lists), and the named parameters $as_of (TIMESTAMPTZ:
-- only transfers with block_timestamp < $as_of count), $top_senders (INTEGER) and the thresholds
-- $min_recipients (INTEGER), $min_labelled_share and $min_top_senders_share (DOUBLE).
--
-- Output: one row per token with a transfer before $as_of, most labelled recipients first: its
-- evidence (transfers, distinct recipients, distinct recipients on the lists and their share,
-- distinct senders, the share of its transfers sent by its $top_senders busiest senders, first
-- and last transfer), the share of the lists among the distinct recipients of every token (the
-- base rate to compare with) and `flagged`. Recipients are distinct addresses, never transfers.
--
-- Dialect: DuckDB.
WITH
transfers AS (
    SELECT
        lower(token_address) AS token_address,
        lower(from_address) AS from_address,
        lower(to_address) AS to_address,
        token_name,
        block_timestamp
    FROM token_transfers
    WHERE block_timestamp < CAST($as_of AS TIMESTAMPTZ)
),

labelled AS (SELECT DISTINCT lower(address) AS address FROM labelled_addresses),

recipients AS (  -- each (token, recipient) once, and whether the lists name the recipient
    SELECT r.token_address, r.to_address, l.address IS NOT NULL AS is_labelled
    FROM (SELECT DISTINCT token_address, to_address FROM transfers) AS r
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
    FROM (SELECT DISTINCT to_address FROM transfers) AS r
    LEFT JOIN labelled AS l ON l.address = r.to_address
),

per_sender AS (
    SELECT
        token_address,
        from_address,
        count(*) AS sent,
        row_number() OVER (
            PARTITION BY token_address ORDER BY count(*) DESC, from_address
        ) AS sender_rank
    FROM transfers
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
        token_address,
        min(token_name) AS token_name,
        count(*) AS transfers,
        min(block_timestamp) AS first_transfer,
        max(block_timestamp) AS last_transfer
    FROM transfers
    GROUP BY token_address
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
