-- Claims go back to the oldest due entry of any tenant, by due time alone.
-- (Inside DO for Citus, as in the up.)
SET LOCAL ROLE pplane_owner;

DO $down$
BEGIN
    DROP FUNCTION outbox_claim_turns(integer, varchar, bigint, uuid);
    CREATE INDEX outbox_events_due_idx ON outbox_events (available_at)
        WHERE status IN ('PENDING', 'IN_FLIGHT');
    DROP INDEX outbox_events_tenant_due_idx;
END
$down$;
