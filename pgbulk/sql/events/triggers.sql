-- The capture trigger on one table ({table}, schema-qualified) of a target schema.
-- AFTER ... FOR EACH ROW: the row as committed by the statement (defaults and
-- cascades applied), one event per changed row. CREATE OR REPLACE: idempotent.
CREATE OR REPLACE TRIGGER pgbulk_capture
    AFTER INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION pgbulk.capture_change();
