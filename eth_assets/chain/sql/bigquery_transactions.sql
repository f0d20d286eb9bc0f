-- Transactions of one block-time window from BigQuery's crypto_ethereum dataset.
-- The table is partitioned on block_timestamp, so the filter bounds the bytes scanned (a day costs
-- a day). Only the columns the features need; `{dataset}` is a validated identifier, the window
-- bounds are query parameters.
SELECT
  `hash`,
  nonce,
  transaction_index,
  from_address,
  to_address,
  value,
  gas,
  gas_price,
  receipt_gas_used,
  receipt_contract_address,
  receipt_status,
  receipt_effective_gas_price,
  block_timestamp,
  block_number,
  block_hash
FROM `{dataset}.transactions`
WHERE block_timestamp >= @start AND block_timestamp < @end
