-- Column statistics: NULL fraction, average width, distinct values, correlation.
-- From pg_stats (after ANALYZE). n_distinct below 0 is a fraction of the rows;
-- correlation near 1 means the column follows the physical row order.
SELECT tablename AS "table", attname AS "column", null_frac,
       avg_width, n_distinct, round(correlation::numeric, 3) AS correlation
FROM pg_stats
WHERE schemaname = current_schema()
ORDER BY tablename, attname;
