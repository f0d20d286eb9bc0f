-- Per address and counterparty, as of the cutoff of `flows`: ether in and out (ETH, successful
-- transactions only), transactions in and out (any status), token transfers in and out.
-- Definitions: docs/exposure.md. Never a model feature.
--
-- Input, defined by the caller: `flows`, the rows of address_flows.sql.
-- Shape: one row per (address, counterparty); a self-transfer gives the row (a, a), which
-- exposure leaves out; a creation that made no contract (NULL counterparty) gives no row.
-- Dialect: DuckDB.
SELECT
    address,
    counterparty,
    CAST(SUM(wei_in) AS DOUBLE) / 1e18 AS eth_in,
    CAST(SUM(wei_out) AS DOUBLE) / 1e18 AS eth_out,
    CAST(SUM(transactions_in) AS BIGINT) AS transactions_in,
    CAST(SUM(transactions_out) AS BIGINT) AS transactions_out,
    CAST(SUM(token_transfers_in) AS BIGINT) AS token_transfers_in,
    CAST(SUM(token_transfers_out) AS BIGINT) AS token_transfers_out
FROM flows
WHERE counterparty IS NOT NULL
GROUP BY address, counterparty
ORDER BY address, counterparty
