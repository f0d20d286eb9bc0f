-- The feature state's record of the days it holds (BigQuery, the bigquery feature engine): one
-- row per day of the window @start … @end, with the raw rows its state was built from. Counting
-- reads only the partitions of the window (block_timestamp alone). `{dataset}` is a validated
-- identifier. Dialect: BigQuery.
WITH
tx AS (
  SELECT DATE(block_timestamp) AS day, COUNT(*) AS n
  FROM `{dataset}.transactions`
  WHERE block_timestamp >= @start AND block_timestamp < @end
  GROUP BY day
),

tt AS (
  SELECT DATE(block_timestamp) AS day, COUNT(*) AS n
  FROM `{dataset}.token_transfers`
  WHERE block_timestamp >= @start AND block_timestamp < @end
  GROUP BY day
)

SELECT
  d AS day,
  COALESCE(tx.n, 0) AS transactions,
  COALESCE(tt.n, 0) AS token_transfers,
  CURRENT_TIMESTAMP() AS built_at
FROM UNNEST(GENERATE_DATE_ARRAY(DATE(@start), DATE_SUB(DATE(@end), INTERVAL 1 DAY))) AS d
LEFT JOIN tx ON tx.day = d
LEFT JOIN tt ON tt.day = d
