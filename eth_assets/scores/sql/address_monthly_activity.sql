-- Per address of `universe` and calendar month (UTC), as of the cutoff of `flows`: transactions
-- in and out (any status), ether in and out (ETH, successful transactions only), token
-- transfers in and out. Definitions: docs/exposure.md. Never a model feature.
--
-- Inputs, defined by the caller: `flows` (the rows of address_flows.sql) and
-- `universe(address)`, the addresses to report (flows may hold more).
-- Shape: one row per (address, month) with activity, months as 'YYYY-MM'.
-- Dialect: DuckDB.
SELECT
    f.address,
    f.month,
    CAST(SUM(f.transactions_in) AS BIGINT) AS transactions_in,
    CAST(SUM(f.transactions_out) AS BIGINT) AS transactions_out,
    CAST(SUM(f.wei_in) AS DOUBLE) / 1e18 AS eth_in,
    CAST(SUM(f.wei_out) AS DOUBLE) / 1e18 AS eth_out,
    CAST(SUM(f.token_transfers_in) AS BIGINT) AS token_transfers_in,
    CAST(SUM(f.token_transfers_out) AS BIGINT) AS token_transfers_out
FROM flows AS f
WHERE f.address IN (SELECT u.address FROM universe AS u)
GROUP BY f.address, f.month
ORDER BY f.address, f.month
