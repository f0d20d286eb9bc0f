-- The addresses to profile when no explicit address file is given: every labelled address that
-- has history in the store, plus a deterministic sample of other active addresses.
-- Relations: transactions (raw lake view), labels(address). Parameters: $as_of, $min_transactions,
-- $sample_size, $seed. md5 (not hash()) keeps the sample stable across DuckDB versions.
WITH activity AS (
  SELECT address, count(*) AS n_transactions
  FROM (
    SELECT from_address AS address FROM transactions WHERE block_timestamp < $as_of
    UNION ALL
    SELECT to_address AS address FROM transactions
    WHERE to_address IS NOT NULL AND block_timestamp < $as_of
  ) AS ends
  GROUP BY address
),
labelled AS (
  SELECT DISTINCT a.address
  FROM activity AS a
  JOIN labels AS l ON l.address = a.address
),
sampled AS (
  SELECT a.address
  FROM activity AS a
  LEFT JOIN labelled AS l ON l.address = a.address
  WHERE l.address IS NULL AND a.n_transactions >= $min_transactions
  ORDER BY md5(a.address || $seed)
  LIMIT $sample_size
)
SELECT address, 'labelled' AS inclusion_reason FROM labelled
UNION ALL
SELECT address, 'sampled' AS inclusion_reason FROM sampled
