-- Remove the outbox and the trigger function. Fails (dependent objects) while any
-- schema still has capture triggers: uninstall those first.
DROP FUNCTION IF EXISTS pgbulk.capture_change();
DROP TABLE IF EXISTS pgbulk.relay_status;
DROP TABLE IF EXISTS pgbulk.outbox;
