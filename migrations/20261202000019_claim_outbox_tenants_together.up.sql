-- A claim serves several tenants in turn, a batch from each (docs/outbox.md,
-- "Taking turns").
--
-- Why: migration 17's claim took one tenant. Fair, but each quiet tenant's
-- single due entry then cost the worker a whole round (a claim, a record,
-- a delivery, a settlement), so 100 quiet entries a second took most of
-- the rounds a noisy tenant's backlog needed (measured: the backlog drained
-- at 0.25x its solo rate beside ten quiet tenants, and the quiet tenants'
-- p99 was 364 ms). Now one claim takes up to a batch from each of the
-- first $5 tenants in turn that have a due entry nobody holds: a quiet
-- tenant's entry rides along with the backlog's batch, and the backlog
-- still gets a whole batch per claim.
--
-- The worker commits such a claim on its own and then records, delivers
-- and settles each tenant's entries in that tenant's own transactions, so
-- no transaction holds two tenants' event-log heads (a tenant's writers
-- queue on its head; a transaction holding several makes every tenant's
-- writers wait for the slowest).
SET LOCAL ROLE pplane_owner;

-- Inside DO, as in migration 17: Citus sends a DDL statement's own text to
-- the workers, and at the top level that text is the whole file. On Citus
-- the claim is made tenant by tenant, so the function stays on the
-- coordinator.
DO $claim$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        SET LOCAL citus.enable_ddl_propagation = off;
    END IF;
    DROP FUNCTION outbox_claim_turns(integer, varchar, bigint, uuid);
    -- $1 the most one tenant gives, $2 the lease owner, $3 the lease in ms,
    -- $4 the tenant the round starts after (the nil uuid at the start), $5
    -- the most tenants one claim serves. The plan is pinned and the CTEs
    -- read on demand as in migration 17: the walk stops at the $5th tenant
    -- with an unheld due entry, and each tenant's entries come from an
    -- ordered index scan that stops at $1.
    CREATE FUNCTION outbox_claim_turns(integer, varchar, bigint, uuid, integer)
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
    -- The first $5 tenants in turn with a due entry no other claim holds
    -- (the probe keeps its lock: the entry is this claim's first).
    served AS MATERIALIZED (
        SELECT t.tenant_id FROM turns t CROSS JOIN LATERAL (
            SELECT 1 FROM outbox_events
            WHERE tenant_id = t.tenant_id
              AND status IN ('PENDING', 'IN_FLIGHT') AND available_at <= now()
            ORDER BY available_at
            LIMIT 1
            FOR UPDATE SKIP LOCKED) held
        LIMIT $5),
    due AS MATERIALIZED (
        SELECT e.tenant_id, e.id, e.destination_id FROM served s CROSS JOIN LATERAL (
            SELECT tenant_id, id, destination_id FROM outbox_events
            WHERE tenant_id = s.tenant_id
              AND status IN ('PENDING', 'IN_FLIGHT') AND available_at <= now()
            ORDER BY available_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED) e),
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
    REVOKE EXECUTE ON FUNCTION outbox_claim_turns(integer, varchar, bigint, uuid, integer)
        FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION outbox_claim_turns(integer, varchar, bigint, uuid, integer)
        TO pplane_dispatcher;
END
$claim$;
