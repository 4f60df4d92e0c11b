-- Per-tenant quotas on what grows while a tenant's effects wait: how many
-- are pending and how many payload bytes they hold (docs/outbox.md,
-- "Quotas").
--
-- Why: one tenant could enqueue effects without bound, and every tenant's
-- outbox shares one table, one index and one disk. A request over its
-- tenant's quota is now refused before anything is written (429, or 413
-- for bytes, over HTTP).
--
-- The limits live on `tenants`, set by an operator (`pplane tenant
-- quota`); the defaults allow 100,000 pending effects and 1 GiB of their
-- payloads. The counts live on the tenant's event-log head row, kept by
-- statement triggers on outbox_events from the rows whose openness
-- changed: every transaction that opens or closes an entry also records an
-- event, so it holds that row already, and the count adds no lock and no
-- lock order of its own. Counting the open entries on each request
-- instead would read a backlog's whole index on every request of the very
-- tenant that has one.
--
-- Bytes are pg_column_size(payload), what the entry takes as stored.
SET LOCAL ROLE pplane_owner;

-- Inside DO, as in migration 17: on Citus a DDL statement's own text is
-- sent to the workers, and at the top level that text is the whole file.
-- One change a statement: Citus refuses a constraint added beside others.
DO $columns$
BEGIN
    ALTER TABLE tenants ADD COLUMN max_pending_effects bigint NOT NULL DEFAULT 100000;
    ALTER TABLE tenants ADD COLUMN max_pending_bytes bigint NOT NULL DEFAULT 1073741824;
    ALTER TABLE tenants
        ADD CONSTRAINT tenants_max_pending_effects_positive CHECK (max_pending_effects > 0);
    ALTER TABLE tenants
        ADD CONSTRAINT tenants_max_pending_bytes_positive CHECK (max_pending_bytes > 0);
    ALTER TABLE tenant_event_heads ADD COLUMN pending_effects bigint NOT NULL DEFAULT 0;
    ALTER TABLE tenant_event_heads ADD COLUMN pending_bytes bigint NOT NULL DEFAULT 0;
END
$columns$;

-- The counting, on a single server. On Citus a trigger on a distributed
-- table runs on the shard and may not write another table; there the
-- counts stay 0 and the quotas are not enforced yet (docs/citus.md).
DO $count$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;

    -- SECURITY INVOKER: the writer's own policies apply to the head row.
    -- Every role that opens or closes an entry (pplane_app's requests,
    -- settlements and requeues) may write its tenant's head. The
    -- dispatcher's claims and the purges of delivered entries change no
    -- entry's openness and may not touch the head rows: the head is named
    -- only once a row is known to have opened or closed.
    CREATE FUNCTION outbox_events_count_pending() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO tenant_event_heads AS h (tenant_id, pending_effects, pending_bytes)
            SELECT tenant_id, count(*), sum(pg_column_size(payload)) FROM new_rows
            WHERE status IN ('PENDING', 'IN_FLIGHT')
            GROUP BY tenant_id
            ON CONFLICT (tenant_id) DO UPDATE
                SET pending_effects = h.pending_effects + excluded.pending_effects,
                    pending_bytes = h.pending_bytes + excluded.pending_bytes;
        ELSIF TG_OP = 'DELETE' THEN
            IF NOT EXISTS (SELECT 1 FROM old_rows WHERE status IN ('PENDING', 'IN_FLIGHT')) THEN
                RETURN NULL;
            END IF;
            UPDATE tenant_event_heads h
            SET pending_effects = h.pending_effects - d.n,
                pending_bytes = h.pending_bytes - d.bytes
            FROM (SELECT tenant_id, count(*) AS n, sum(pg_column_size(payload)) AS bytes
                  FROM old_rows WHERE status IN ('PENDING', 'IN_FLIGHT')
                  GROUP BY tenant_id) d
            WHERE h.tenant_id = d.tenant_id;
        ELSE
            IF NOT EXISTS (
                SELECT 1 FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
                WHERE (n.status IN ('PENDING', 'IN_FLIGHT')) <> (o.status IN ('PENDING', 'IN_FLIGHT')))
            THEN
                RETURN NULL;
            END IF;
            UPDATE tenant_event_heads h
            SET pending_effects = h.pending_effects + d.n,
                pending_bytes = h.pending_bytes + d.bytes
            FROM (SELECT n.tenant_id,
                         sum(CASE WHEN n.status IN ('PENDING', 'IN_FLIGHT') THEN 1 ELSE -1 END)
                             AS n,
                         sum(CASE WHEN n.status IN ('PENDING', 'IN_FLIGHT')
                                  THEN pg_column_size(n.payload)
                                  ELSE -pg_column_size(o.payload) END) AS bytes
                  FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
                  WHERE (n.status IN ('PENDING', 'IN_FLIGHT'))
                        <> (o.status IN ('PENDING', 'IN_FLIGHT'))
                  GROUP BY n.tenant_id) d
            WHERE h.tenant_id = d.tenant_id;
        END IF;
        RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER outbox_events_count_inserted AFTER INSERT ON outbox_events
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_events_count_pending();
    CREATE TRIGGER outbox_events_count_updated AFTER UPDATE ON outbox_events
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_events_count_pending();
    CREATE TRIGGER outbox_events_count_deleted AFTER DELETE ON outbox_events
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_events_count_pending();

    -- What is pending already, counted as the login that migrates (which
    -- sees every tenant's rows), not as the owner, whose policies would
    -- hide them.
    RESET ROLE;
    INSERT INTO tenant_event_heads AS h (tenant_id, pending_effects, pending_bytes)
    SELECT tenant_id, count(*), sum(pg_column_size(payload)) FROM outbox_events
    WHERE status IN ('PENDING', 'IN_FLIGHT')
    GROUP BY tenant_id
    ON CONFLICT (tenant_id) DO UPDATE
        SET pending_effects = excluded.pending_effects, pending_bytes = excluded.pending_bytes;
    SET LOCAL ROLE pplane_owner;
END
$count$;
