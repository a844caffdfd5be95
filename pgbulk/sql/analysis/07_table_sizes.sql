-- Table sizes: heap, indexes, total and bytes per row.
-- Heap includes TOAST and the free-space and visibility maps; rows are the planner's
-- estimate (pg_class.reltuples), exact after the ANALYZE that ends a pgbulk load.
SELECT c.relname AS "table",
       c.reltuples::bigint AS rows,
       pg_size_pretty(pg_table_size(c.oid)) AS heap,
       pg_size_pretty(pg_indexes_size(c.oid)) AS indexes,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS total,
       round(pg_table_size(c.oid) / nullif(c.reltuples, 0)::numeric, 1) AS heap_bytes_per_row,
       round(pg_indexes_size(c.oid) / nullif(c.reltuples, 0)::numeric, 1) AS index_bytes_per_row,
       pg_table_size(c.oid) AS heap_bytes,
       pg_indexes_size(c.oid) AS index_bytes
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
ORDER BY pg_total_relation_size(c.oid) DESC, c.relname;
