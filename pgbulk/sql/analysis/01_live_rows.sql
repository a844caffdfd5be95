-- Live rows per table, with a total (the original's query: statistics, not count(*)).
-- Tables of the current schema: SET search_path TO <schema> first, or run as is for public.
SELECT coalesce(relname, 'total') AS "table", sum(n_live_tup)::bigint AS live_rows
FROM pg_stat_user_tables
WHERE schemaname = current_schema()
GROUP BY ROLLUP (relname)
ORDER BY grouping(relname), relname;
