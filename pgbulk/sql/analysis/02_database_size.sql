-- Size of this database.
SELECT current_database() AS database,
       pg_size_pretty(pg_database_size(current_database())) AS size;
