-- The pgbulk dataset in this schema, from its ledger (needs the pgbulk schema).
SELECT d.dataset, d.seed, d.users, d.chunk_users,
       'v' || (d.spec ->> 'uuid_version') AS uuid,
       d.spec ->> 'zipf_a' AS zipf_a,
       d.spec ->> 'max_per_user' AS max_per_user,
       d.state,
       (SELECT count(*) FROM pgbulk.chunks c WHERE c.target_schema = d.target_schema) AS chunks_loaded,
       d.chunks,
       d.pgbulk_version,
       date_trunc('second', d.completed_at - d.created_at) AS load_time
FROM pgbulk.datasets d
WHERE d.target_schema = current_schema();
