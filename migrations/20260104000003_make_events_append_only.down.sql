-- Lifts both locks. The owner gets back the privileges an owner starts with.
SET LOCAL ROLE pplane_owner;

DROP TRIGGER orchestration_events_no_truncate ON orchestration_events;
DROP TRIGGER orchestration_events_append_only ON orchestration_events;
DROP FUNCTION orchestration_events_reject_change();

GRANT UPDATE, DELETE, TRUNCATE ON orchestration_events TO pplane_owner;
