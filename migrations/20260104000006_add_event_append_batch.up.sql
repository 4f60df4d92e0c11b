-- Group commit for event appends: one call appends the events of many
-- concurrent callers, across tenants, in the caller's transaction.
--
-- Why: a tenant's appends are serialised by its head row (migration 5) until
-- each transaction commits, so one commit per event caps a hot tenant at one
-- flush at a time, and a transaction per event costs three round trips. The
-- store's appender instead collects whatever appends are waiting, sorts them
-- by tenant (so two batches always lock heads in the same order and cannot
-- deadlock), and sends them here as one JSON document; the whole batch is one
-- transaction, one head increment per tenant, one commit.
--
-- Security: SECURITY INVOKER, so it runs as pplane_app under row-level
-- security like any other statement. For each tenant group it sets the tenant
-- context with SET LOCAL (through EXECUTE, which Citus forwards to workers,
-- unlike set_config), and the policies then check that group's principal is
-- a member. The values are cast to uuid before they are quoted into SET.
--
-- Input: [{"tenant_id", "user_id", "events": [{"ordinal" (1, 2, ... within
-- the group), "id", "event_type", "aggregate_type", "aggregate_id",
-- "aggregate_version", "schema_version", "event_data", "correlation_id",
-- "causation_id", "actor"}, ...]}, ...]
-- Output: one row per group: its position in the input and the sequence
-- number just before its first event (the events take base + 1, base + 2, ...).
SET LOCAL ROLE pplane_owner;

CREATE FUNCTION event_append_batch(batch jsonb)
    RETURNS TABLE (group_ordinal integer, base_sequence bigint)
    LANGUAGE plpgsql SECURITY INVOKER
    AS $$
DECLARE
    grp    jsonb;
    ord    integer := 0;
    tenant uuid;
    member uuid;
    last_member uuid;
    n      integer;
BEGIN
    FOR grp IN SELECT value FROM jsonb_array_elements(batch) LOOP
        tenant := (grp ->> 'tenant_id')::uuid;
        member := (grp ->> 'user_id')::uuid;
        n := jsonb_array_length(grp -> 'events');
        EXECUTE format('SET LOCAL app.tenant_id = %L', tenant);
        IF member IS DISTINCT FROM last_member THEN
            EXECUTE format('SET LOCAL app.user_id = %L', member);
            last_member := member;
        END IF;

        -- An UPDATE is the common case, at a third of the cost of an upsert's
        -- speculative insertion; a tenant's first append creates the row (a
        -- concurrent creator is resolved by ON CONFLICT). The head row's lock
        -- orders this tenant's appends until the batch commits.
        UPDATE tenant_event_heads SET last_sequence = last_sequence + n
        WHERE tenant_id = tenant
        RETURNING last_sequence - n INTO base_sequence;
        IF NOT FOUND THEN
            INSERT INTO tenant_event_heads AS h (tenant_id, last_sequence) VALUES (tenant, n)
            ON CONFLICT (tenant_id) DO UPDATE SET last_sequence = h.last_sequence + EXCLUDED.last_sequence
            RETURNING h.last_sequence - n INTO base_sequence;
        END IF;

        INSERT INTO orchestration_events (tenant_id, id, sequence_number, event_type, aggregate_type,
                                          aggregate_id, aggregate_version, schema_version, event_data,
                                          correlation_id, causation_id, actor)
        SELECT tenant, e.id, base_sequence + e.ordinal, e.event_type, e.aggregate_type, e.aggregate_id,
               e.aggregate_version, e.schema_version, e.event_data, e.correlation_id, e.causation_id, e.actor
        FROM jsonb_to_recordset(grp -> 'events') AS e(ordinal integer, id uuid, event_type text,
             aggregate_type text, aggregate_id uuid, aggregate_version integer, schema_version smallint,
             event_data jsonb, correlation_id uuid, causation_id uuid, actor text);

        group_ordinal := ord;
        RETURN NEXT;
        ord := ord + 1;
    END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION event_append_batch(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION event_append_batch(jsonb) TO pplane_app;
