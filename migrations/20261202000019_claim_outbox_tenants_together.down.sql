-- Claims go back to one tenant each (migration 17's function).
SET LOCAL ROLE pplane_owner;

DO $claim$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        SET LOCAL citus.enable_ddl_propagation = off;
    END IF;
    DROP FUNCTION outbox_claim_turns(integer, varchar, bigint, uuid, integer);
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
