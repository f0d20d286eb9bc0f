-- The universe addresses whose features can differ between two cutoffs: those the state's days
-- from $since on (the days after the previous cutoff's day, up to the new cutoff) may change.
-- Every other universe address keeps its previous row exactly (docs/features.md#incremental-features).
--
-- Inputs, defined by the caller: the state views as of the new cutoff (state_*), `universe`,
-- `excluded_tokens`, and the named parameter $since (DATE). An address changes when
--   * it has a row of its own in the window (any state table keyed by it);
--   * a token counterparty it sent to became a known contract in the window (`to_contract`
--     of address_features_from_state.sql);
--   * an ether counterparty was active in the window on the side its median reads
--     (`median_recipient_received`, `median_sender_sent` of behaviour_features_from_state.sql).
-- Dialect: DuckDB.
WITH
own AS (
    SELECT address FROM state_ether WHERE day >= $since
    UNION SELECT address FROM state_ether_pairs WHERE day >= $since
    UNION SELECT address FROM state_ether_times WHERE day >= $since
    UNION SELECT address FROM state_tokens WHERE day >= $since
    UNION SELECT address FROM state_token_balances WHERE day >= $since
    UNION SELECT address FROM state_token_transactions WHERE day >= $since
),

kept_contracts AS (
    SELECT address, day
    FROM state_contracts
    WHERE token_address IS NULL
        OR token_address NOT IN (SELECT token_address FROM excluded_tokens)
),

new_contracts AS (
    SELECT address FROM kept_contracts WHERE day >= $since
    EXCEPT
    SELECT address FROM kept_contracts WHERE day < $since
),

via_contracts AS (
    SELECT address
    FROM state_tokens
    WHERE role = 'sent' AND counterparty IN (SELECT address FROM new_contracts)
),

received_lately AS (
    SELECT DISTINCT address FROM state_ether WHERE role = 'received' AND day >= $since
),

sent_lately AS (
    SELECT DISTINCT address FROM state_ether WHERE role = 'sent' AND day >= $since
),

via_activity AS (
    SELECT address
    FROM state_ether_pairs
    WHERE role = 'sent' AND NOT is_creation
        AND counterparty IN (SELECT address FROM received_lately)
    UNION
    SELECT address
    FROM state_ether_pairs
    WHERE role = 'received' AND counterparty IN (SELECT address FROM sent_lately)
)

SELECT DISTINCT c.address
FROM (
    SELECT address FROM own
    UNION SELECT address FROM via_contracts
    UNION SELECT address FROM via_activity
) AS c
WHERE c.address IN (SELECT address FROM universe)
