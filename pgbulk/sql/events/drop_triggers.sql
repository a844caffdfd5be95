-- Stop capturing changes in one target schema ({schema}). The outbox stays.
DROP TRIGGER IF EXISTS pgbulk_capture ON {schema}.users;
DROP TRIGGER IF EXISTS pgbulk_capture ON {schema}.emails;
DROP TRIGGER IF EXISTS pgbulk_capture ON {schema}.phone_numbers;
