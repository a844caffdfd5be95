-- Stop capturing changes of one table ({table}, schema-qualified). The outbox stays.
DROP TRIGGER IF EXISTS pgbulk_capture ON {table};
