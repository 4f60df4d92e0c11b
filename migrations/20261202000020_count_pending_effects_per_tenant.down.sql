-- Quotas go: no limits, no counts. (Inside DO for Citus, as in the up.)
SET LOCAL ROLE pplane_owner;

DO $down$
BEGIN
    -- The counting exists on a single server only (Citus refuses even to
    -- look for a trigger on a distributed table).
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        DROP TRIGGER outbox_events_count_inserted ON outbox_events;
        DROP TRIGGER outbox_events_count_updated ON outbox_events;
        DROP TRIGGER outbox_events_count_deleted ON outbox_events;
        DROP FUNCTION outbox_events_count_pending();
    END IF;
    -- The reference table first: on Citus, DDL on it after parallel DDL on
    -- a distributed table in one transaction is refused.
    ALTER TABLE tenants DROP COLUMN max_pending_effects;
    ALTER TABLE tenants DROP COLUMN max_pending_bytes;
    ALTER TABLE tenant_event_heads DROP COLUMN pending_effects;
    ALTER TABLE tenant_event_heads DROP COLUMN pending_bytes;
END
$down$;
