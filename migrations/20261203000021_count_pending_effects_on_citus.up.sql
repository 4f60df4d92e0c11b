-- The quotas' pending counts on Citus (docs/citus.md, "Tenant quotas").
--
-- Why: migration 20 keeps each tenant's pending-effect counts with
-- statement triggers on outbox_events, which it could not create on Citus
-- (a trigger on a distributed table fires on the shard, where it may not
-- write the head row). There the counts stayed 0 and no quota was ever
-- reached. From this release the store moves the counts itself on Citus,
-- in the transaction of each statement that opens or closes an entry
-- (`operations::effects::pending_count`); this migration counts what is
-- open already, once, so that the store's moves start from the truth.
--
-- On a single server the triggers have counted all along: nothing to do.
SET LOCAL ROLE pplane_owner;

DO $backfill$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    -- Counted as the login that migrates, which sees every tenant's rows
    -- (the owner's policies would hide them), as migration 20 backfilled.
    -- A tenant with nothing open keeps its 0; every tenant with an open
    -- entry has a head row (requesting an effect records an event).
    RESET ROLE;
    UPDATE tenant_event_heads h
    SET pending_effects = o.n, pending_bytes = o.bytes
    FROM (SELECT tenant_id, count(*) AS n, sum(pg_column_size(payload)) AS bytes
          FROM outbox_events WHERE status IN ('PENDING', 'IN_FLIGHT')
          GROUP BY tenant_id) o
    WHERE h.tenant_id = o.tenant_id;
    SET LOCAL ROLE pplane_owner;
END
$backfill$;
