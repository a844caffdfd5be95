-- Capture triggers on the contacts tables of one target schema ({schema}).
-- AFTER ... FOR EACH ROW: the row as committed by the statement (defaults and
-- cascades applied), one event per changed row. CREATE OR REPLACE: idempotent.
CREATE OR REPLACE TRIGGER pgbulk_capture
    AFTER INSERT OR UPDATE OR DELETE ON {schema}.users
    FOR EACH ROW EXECUTE FUNCTION pgbulk.capture_change();
CREATE OR REPLACE TRIGGER pgbulk_capture
    AFTER INSERT OR UPDATE OR DELETE ON {schema}.emails
    FOR EACH ROW EXECUTE FUNCTION pgbulk.capture_change();
CREATE OR REPLACE TRIGGER pgbulk_capture
    AFTER INSERT OR UPDATE OR DELETE ON {schema}.phone_numbers
    FOR EACH ROW EXECUTE FUNCTION pgbulk.capture_change();
