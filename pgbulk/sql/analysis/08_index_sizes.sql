-- Index sizes, largest first, with what each indexes and bytes per table row.
SELECT t.relname AS "table",
       i.relname AS index,
       pg_size_pretty(pg_relation_size(i.oid)) AS size,
       round(pg_relation_size(i.oid) / nullif(t.reltuples, 0)::numeric, 1) AS bytes_per_row,
       regexp_replace(pg_get_indexdef(i.oid), '^.* USING ', '') AS method_and_columns,
       x.indisunique AS "unique",
       x.indisvalid AS valid,
       pg_relation_size(i.oid) AS bytes
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
WHERE t.relnamespace = current_schema()::regnamespace
ORDER BY pg_relation_size(i.oid) DESC, i.relname;
