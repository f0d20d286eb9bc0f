-- Per address of `counterparties`: what it received and sent in all, and the parts exchanged
-- with listed and with flagged counterparties (self-transfers left out). The direct exposure of
-- an address, and, for its counterparties on a store of whole histories, what its one-hop
-- indirect exposure weighs (docs/exposure.md). Never a model feature.
--
-- Inputs, defined by the caller: `counterparties` (the rows of address_counterparties.sql),
-- `listed(address)` (on a label list) and `flagged(address)` (flagged by the model; may be
-- empty when the flags are not known yet).
-- Shape: one row per address with a counterparty other than itself. Ether in ETH (DOUBLE),
-- token transfers as counts: token amounts of different tokens do not add up.
-- Dialect: DuckDB.
WITH
l AS (SELECT DISTINCT address FROM listed),
f AS (SELECT DISTINCT address FROM flagged)

SELECT
    c.address,
    SUM(c.eth_in) AS eth_received,
    COALESCE(SUM(c.eth_in) FILTER (WHERE l.address IS NOT NULL), 0.0) AS eth_received_listed,
    COALESCE(SUM(c.eth_in) FILTER (WHERE f.address IS NOT NULL), 0.0) AS eth_received_flagged,
    SUM(c.eth_out) AS eth_sent,
    COALESCE(SUM(c.eth_out) FILTER (WHERE l.address IS NOT NULL), 0.0) AS eth_sent_listed,
    COALESCE(SUM(c.eth_out) FILTER (WHERE f.address IS NOT NULL), 0.0) AS eth_sent_flagged,
    CAST(SUM(c.token_transfers_in) AS BIGINT) AS token_transfers_received,
    CAST(COALESCE(SUM(c.token_transfers_in) FILTER (WHERE l.address IS NOT NULL), 0) AS BIGINT)
        AS token_transfers_received_listed,
    CAST(COALESCE(SUM(c.token_transfers_in) FILTER (WHERE f.address IS NOT NULL), 0) AS BIGINT)
        AS token_transfers_received_flagged,
    CAST(SUM(c.token_transfers_out) AS BIGINT) AS token_transfers_sent,
    CAST(COALESCE(SUM(c.token_transfers_out) FILTER (WHERE l.address IS NOT NULL), 0) AS BIGINT)
        AS token_transfers_sent_listed,
    CAST(COALESCE(SUM(c.token_transfers_out) FILTER (WHERE f.address IS NOT NULL), 0) AS BIGINT)
        AS token_transfers_sent_flagged
FROM counterparties AS c
LEFT JOIN l ON c.counterparty = l.address
LEFT JOIN f ON c.counterparty = f.address
WHERE c.counterparty <> c.address
GROUP BY c.address
ORDER BY c.address
