-- Who each address of `universe` dealt with, and when, as of a cutoff: per (address,
-- counterparty, month) the transactions and token transfers each way and the ether they moved.
-- The one definition of a flow that the counterparty, monthly-activity and exposure tables
-- aggregate (docs/exposure.md). Never a model feature.
--
-- Inputs, defined by the caller: `transactions` and `token_transfers` (the columns of
-- eth_assets/chain/schemas.py, label-broadcast tokens already left out, as for the features),
-- `universe(address)`, and the named parameter $as_of (TIMESTAMPTZ): only rows with
-- block_timestamp < $as_of count.
--
-- Rules, those of address_features.sql: ether moves only in successful transactions
-- (receipt_status NULL, before Byzantium, counts as success); transactions are counted whatever
-- their status. A contract creation is sent to the contract it made (receipt_contract_address)
-- and received by that contract, endowment included; a creation that made no contract has no
-- counterparty (NULL). A self-transfer is both sent and received, the address its own
-- counterparty.
-- Shape: one row per (address, counterparty, month) with activity; month is 'YYYY-MM' (UTC);
-- ether stays exact DECIMAL(38, 0) wei.
-- Dialect: DuckDB.
WITH
ids AS (SELECT DISTINCT address FROM universe),

tx AS (  -- transactions before the cutoff: who sent, who received, the ether that moved
    SELECT
        from_address,
        COALESCE(to_address, receipt_contract_address) AS recipient,
        block_timestamp,
        CASE WHEN COALESCE(receipt_status, 1) <> 0 THEN value END AS value_ok
    FROM transactions
    WHERE block_timestamp < CAST($as_of AS TIMESTAMPTZ)
),

tok AS (
    SELECT from_address, to_address, block_timestamp
    FROM token_transfers
    WHERE block_timestamp < CAST($as_of AS TIMESTAMPTZ)
),

legs AS (  -- one row per (universe address, transaction or transfer, side)
    SELECT
        t.from_address AS address,
        t.recipient AS counterparty,
        t.block_timestamp,
        0 AS tx_in,
        1 AS tx_out,
        CAST(NULL AS DECIMAL(38, 0)) AS wei_in,
        CAST(t.value_ok AS DECIMAL(38, 0)) AS wei_out,
        0 AS tok_in,
        0 AS tok_out
    FROM tx AS t
    INNER JOIN ids AS u ON t.from_address = u.address
    UNION ALL
    SELECT
        t.recipient AS address,
        t.from_address AS counterparty,
        t.block_timestamp,
        1 AS tx_in,
        0 AS tx_out,
        CAST(t.value_ok AS DECIMAL(38, 0)) AS wei_in,
        CAST(NULL AS DECIMAL(38, 0)) AS wei_out,
        0 AS tok_in,
        0 AS tok_out
    FROM tx AS t
    INNER JOIN ids AS u ON t.recipient = u.address
    UNION ALL
    SELECT
        k.from_address AS address,
        k.to_address AS counterparty,
        k.block_timestamp,
        0 AS tx_in,
        0 AS tx_out,
        CAST(NULL AS DECIMAL(38, 0)) AS wei_in,
        CAST(NULL AS DECIMAL(38, 0)) AS wei_out,
        0 AS tok_in,
        1 AS tok_out
    FROM tok AS k
    INNER JOIN ids AS u ON k.from_address = u.address
    UNION ALL
    SELECT
        k.to_address AS address,
        k.from_address AS counterparty,
        k.block_timestamp,
        0 AS tx_in,
        0 AS tx_out,
        CAST(NULL AS DECIMAL(38, 0)) AS wei_in,
        CAST(NULL AS DECIMAL(38, 0)) AS wei_out,
        1 AS tok_in,
        0 AS tok_out
    FROM tok AS k
    INNER JOIN ids AS u ON k.to_address = u.address
)

SELECT
    address,
    counterparty,
    strftime(block_timestamp AT TIME ZONE 'UTC', '%Y-%m') AS month,
    CAST(SUM(tx_in) AS BIGINT) AS transactions_in,
    CAST(SUM(tx_out) AS BIGINT) AS transactions_out,
    COALESCE(SUM(wei_in), CAST(0 AS DECIMAL(38, 0))) AS wei_in,
    COALESCE(SUM(wei_out), CAST(0 AS DECIMAL(38, 0))) AS wei_out,
    CAST(SUM(tok_in) AS BIGINT) AS token_transfers_in,
    CAST(SUM(tok_out) AS BIGINT) AS token_transfers_out
FROM legs
GROUP BY address, counterparty, month
