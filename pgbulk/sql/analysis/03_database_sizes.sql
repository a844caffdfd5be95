-- Size of every database, largest first (those this role may connect to).
SELECT datname AS database,
       pg_size_pretty(pg_database_size(datname)) AS size,
       pg_database_size(datname) AS bytes
FROM pg_database
WHERE has_database_privilege(datname, 'CONNECT')
ORDER BY pg_database_size(datname) DESC, datname;
