-- orchestration_events is append-only for every role, the owner included.
-- Two independent locks, so that losing one (a stray GRANT, a disabled
-- trigger) still leaves the other:
-- 1. Privileges: nobody holds UPDATE, DELETE or TRUNCATE on the table.
-- 2. Statement-level triggers that raise on UPDATE, DELETE and TRUNCATE. They
--    are statement-level so that they fire even when row-level security hides
--    every row (a row trigger would not fire on zero rows), and ENABLE ALWAYS
--    so that session_replication_role = replica does not skip them.
-- The error has its own SQLSTATE, PA001, which the store maps to a typed
-- "append-only violation".
SET LOCAL ROLE pplane_owner;

REVOKE UPDATE, DELETE, TRUNCATE ON orchestration_events FROM PUBLIC, pplane_app, pplane_owner;

CREATE FUNCTION orchestration_events_reject_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'orchestration_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'PA001',
              HINT = 'Record a correcting event instead of changing history.';
END
$$;
REVOKE EXECUTE ON FUNCTION orchestration_events_reject_change() FROM PUBLIC;

CREATE TRIGGER orchestration_events_append_only
    BEFORE UPDATE OR DELETE ON orchestration_events
    FOR EACH STATEMENT EXECUTE FUNCTION orchestration_events_reject_change();

CREATE TRIGGER orchestration_events_no_truncate
    BEFORE TRUNCATE ON orchestration_events
    FOR EACH STATEMENT EXECUTE FUNCTION orchestration_events_reject_change();

ALTER TABLE orchestration_events ENABLE ALWAYS TRIGGER orchestration_events_append_only;
ALTER TABLE orchestration_events ENABLE ALWAYS TRIGGER orchestration_events_no_truncate;
