-- ERC-20 transfers of one block-time window, with each token's name, symbol and decimals.
-- token_transfers is partitioned on block_timestamp; `tokens` is small and holds repeated rows
-- per address, so it is reduced to one row per token before the join.
WITH token_metadata AS (
  SELECT
    address,
    ANY_VALUE(name) AS token_name,
    ANY_VALUE(symbol) AS token_symbol,
    MAX(SAFE_CAST(decimals AS INT64)) AS token_decimals
  FROM `{dataset}.tokens`
  GROUP BY address
)
SELECT
  t.token_address,
  t.from_address,
  t.to_address,
  t.value,
  t.transaction_hash,
  t.log_index,
  t.block_timestamp,
  t.block_number,
  t.block_hash,
  m.token_name,
  m.token_symbol,
  m.token_decimals
FROM `{dataset}.token_transfers` AS t
LEFT JOIN token_metadata AS m ON m.address = t.token_address
WHERE t.block_timestamp >= @start AND t.block_timestamp < @end
