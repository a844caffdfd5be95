-- The pgbulk dataset in this schema, from its ledger (needs the pgbulk schema).
SELECT d.dataset, d.seed, d.scale, d.chunk_rows,
       d.state,
       (SELECT count(*) FROM pgbulk.chunks c WHERE c.target_schema = d.target_schema) AS chunks_loaded,
       d.chunks,
       d.pgbulk_version,
       date_trunc('second', d.completed_at - d.created_at) AS load_time,
       d.spec::text AS definition
FROM pgbulk.datasets d
WHERE d.target_schema = current_schema();
