-- The outbox is claimed tenant by tenant, in turns (docs/outbox.md,
-- "Taking turns").
--
-- Why: a claim used to take the tenant of the oldest due entry, so the
-- outbox was one line across all tenants and a tenant that enqueued 10,000
-- effects held back every other tenant's until its own were out. Now a
-- claim walks the tenants that have due entries in tenant-id order,
-- starting after the last one the worker served and wrapping round, and
-- takes up to a batch from each in turn until its batch is full.
--
-- The walk needs, for any tenant id, the next tenant with open entries and
-- that tenant's earliest due time: the first entry of an index on
-- (tenant_id, available_at) over open entries, one probe per tenant it
-- passes, however large a tenant's backlog. The same index gives each
-- tenant's open entries in due order. It replaces the index on
-- available_at alone (migration 7), whose only reader was the old claim:
-- every outbox write pays for each index on open entries.
SET LOCAL ROLE pplane_owner;

-- Each statement runs inside DO: Citus sends a DDL statement's own text to
-- the workers, and at the top level of a migration that text is the whole
-- file.
DO $index$
BEGIN
    CREATE INDEX outbox_events_tenant_due_idx ON outbox_events (tenant_id, available_at)
        WHERE status IN ('PENDING', 'IN_FLIGHT');
    DROP INDEX outbox_events_due_idx;
END
$index$;

-- The claim, as a function so that its plan can be pinned: without sorts
-- or bitmap scans the planner has one way to take a tenant's oldest due
-- entries, an ordered scan of the index above that stops at the batch.
-- Left to its estimates (the average backlog per tenant), it may read and
-- sort a tenant's whole backlog to take 32 of it, which is the very
-- tenant whose backlog is large. PL/pgSQL, not SQL: it keeps the plan for
-- the session, where an SQL function would plan the statement on every
-- call (2 ms, more than the claim itself).
--
-- $1 the batch (and the most one tenant gives), $2 the lease owner, $3 the
-- lease in ms, $4 the tenant the round starts after (the nil uuid at the
-- start). The CTEs are read on demand, so the walk stops at the tenants the
-- batch needs; the lateral claim runs in turn order and locks only what it
-- returns. SECURITY INVOKER: the caller's role and policies apply (the
-- worker calls it as pplane_dispatcher).
--
-- On Citus the claim is made tenant by tenant (a statement that locks rows
-- may not span shards), so the function is the single server's only: it
-- stays on the coordinator, not sent to the workers.
DO $claim$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        SET LOCAL citus.enable_ddl_propagation = off;
    END IF;
    CREATE FUNCTION outbox_claim_turns(integer, varchar, bigint, uuid)
        RETURNS TABLE (tenant_id uuid, id uuid, effect_id uuid, event_type varchar,
                       payload jsonb, idempotency_key varchar, attempt integer,
                       retry_count integer, correlation_id uuid, causation_id uuid,
                       error_details jsonb, lease_owner varchar, created_at timestamptz,
                       destination_kind varchar, destination_target text,
                       destination_secret text)
        LANGUAGE plpgsql
        SET enable_sort = off
        SET enable_bitmapscan = off
        AS $fn$
    #variable_conflict use_column
    BEGIN
    RETURN QUERY
    WITH RECURSIVE
    later (tenant_id, due_at) AS (
        (SELECT tenant_id, available_at FROM outbox_events
         WHERE status IN ('PENDING', 'IN_FLIGHT') AND tenant_id > $4
         ORDER BY tenant_id, available_at LIMIT 1)
        UNION ALL
        SELECT n.tenant_id, n.available_at FROM later w CROSS JOIN LATERAL (
            SELECT tenant_id, available_at FROM outbox_events
            WHERE status IN ('PENDING', 'IN_FLIGHT') AND tenant_id > w.tenant_id
            ORDER BY tenant_id, available_at LIMIT 1) n),
    earlier (tenant_id, due_at) AS (
        (SELECT tenant_id, available_at FROM outbox_events
         WHERE status IN ('PENDING', 'IN_FLIGHT') AND tenant_id <= $4
         ORDER BY tenant_id, available_at LIMIT 1)
        UNION ALL
        SELECT n.tenant_id, n.available_at FROM earlier w CROSS JOIN LATERAL (
            SELECT tenant_id, available_at FROM outbox_events
            WHERE status IN ('PENDING', 'IN_FLIGHT') AND tenant_id > w.tenant_id
              AND tenant_id <= $4
            ORDER BY tenant_id, available_at LIMIT 1) n),
    turns AS MATERIALIZED (
        SELECT tenant_id FROM later WHERE due_at <= now()
        UNION ALL
        SELECT tenant_id FROM earlier WHERE due_at <= now()),
    -- The first tenant in turn with a due entry no other claim holds.
    first AS MATERIALIZED (
        SELECT t.tenant_id FROM turns t CROSS JOIN LATERAL (
            SELECT 1 FROM outbox_events
            WHERE tenant_id = t.tenant_id
              AND status IN ('PENDING', 'IN_FLIGHT') AND available_at <= now()
            ORDER BY available_at
            LIMIT 1
            FOR UPDATE SKIP LOCKED) held
        LIMIT 1),
    due AS MATERIALIZED (
        SELECT tenant_id, id, destination_id FROM outbox_events
        WHERE tenant_id = (SELECT tenant_id FROM first)
          AND status IN ('PENDING', 'IN_FLIGHT') AND available_at <= now()
        ORDER BY available_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED),
    claimed AS (
        UPDATE outbox_events o
        SET status = 'IN_FLIGHT', attempt = o.attempt + 1, lease_owner = $2,
            lease_expires_at = now() + $3 * interval '1 millisecond',
            available_at = now() + $3 * interval '1 millisecond'
        FROM due LEFT JOIN effect_destinations d
            ON d.tenant_id = due.tenant_id AND d.id = due.destination_id
        WHERE o.tenant_id = due.tenant_id AND o.id = due.id
        RETURNING o.tenant_id, o.id, o.aggregate_id, o.event_type, o.payload,
                  o.idempotency_key, o.attempt, o.retry_count, o.correlation_id,
                  o.causation_id, o.error_details, o.lease_owner, o.created_at, d.kind,
                  d.target, d.signing_secret)
    SELECT * FROM claimed;
    END
    $fn$;
    REVOKE EXECUTE ON FUNCTION outbox_claim_turns(integer, varchar, bigint, uuid) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION outbox_claim_turns(integer, varchar, bigint, uuid)
        TO pplane_dispatcher;
END
$claim$;
