-- Feature state, ether pairs: per address, counterparty, role and UTC day, how many
-- transactions; what exact distinct counts of counterparties and the counterparties' own
-- activity need (docs/features.md#incremental-features). Merged over days by sum; a pair counts
-- once however many days it appears on.
--
-- Inputs and parameters as feature_state_ether.sql. Roles: 'sent' (address = from_address,
-- counterparty = to_address, or the created contract for a creation, `is_creation`) and
-- 'received' (address = to_address, counterparty = from_address).
-- Dialect: DuckDB.
WITH
tx AS (
    SELECT from_address, to_address, receipt_contract_address, block_timestamp
    FROM transactions
    WHERE block_timestamp >= CAST($start AS TIMESTAMPTZ)
        AND block_timestamp < CAST($end AS TIMESTAMPTZ)
)

SELECT
    from_address AS address,
    COALESCE(to_address, receipt_contract_address) AS counterparty,
    'sent' AS role,
    to_address IS NULL AS is_creation,
    CAST(block_timestamp AS DATE) AS day,
    COUNT(*) AS n
FROM tx
WHERE COALESCE(to_address, receipt_contract_address) IS NOT NULL
GROUP BY ALL
UNION ALL
SELECT
    to_address AS address,
    from_address AS counterparty,
    'received' AS role,
    FALSE AS is_creation,
    CAST(block_timestamp AS DATE) AS day,
    COUNT(*) AS n
FROM tx
WHERE to_address IS NOT NULL
GROUP BY ALL
