-- Feature state, contracts: the addresses a UTC day's rows show to be contracts (token
-- contracts, contracts created by a transaction, recipients of a call that ran code: more gas
-- than the 21000 of a plain transfer), as address_features.sql `contracts`. The contracts known
-- at a cutoff are the union over the days before it. A token contract keeps its `token_address`
-- (itself) so that a token left out later is no contract by its transfers; NULL otherwise.
--
-- Inputs: `transactions`, `token_transfers` (every token) and the named parameters $start and
-- $end (TIMESTAMPTZ).
-- Dialect: DuckDB.
SELECT DISTINCT address, token_address, day
FROM (
    SELECT token_address AS address, token_address, CAST(block_timestamp AS DATE) AS day
    FROM token_transfers
    WHERE block_timestamp >= CAST($start AS TIMESTAMPTZ)
        AND block_timestamp < CAST($end AS TIMESTAMPTZ)
    UNION ALL
    SELECT
        receipt_contract_address AS address,
        NULL AS token_address,
        CAST(block_timestamp AS DATE) AS day
    FROM transactions
    WHERE to_address IS NULL AND receipt_contract_address IS NOT NULL
        AND block_timestamp >= CAST($start AS TIMESTAMPTZ)
        AND block_timestamp < CAST($end AS TIMESTAMPTZ)
    UNION ALL
    SELECT to_address AS address, NULL AS token_address, CAST(block_timestamp AS DATE) AS day
    FROM transactions
    WHERE receipt_gas_used > 21000 AND to_address IS NOT NULL
        AND block_timestamp >= CAST($start AS TIMESTAMPTZ)
        AND block_timestamp < CAST($end AS TIMESTAMPTZ)
) AS c
