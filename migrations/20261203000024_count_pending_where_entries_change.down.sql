-- Back to migration 20's statement triggers on a single server, which
-- count with pg_column_size(payload) and need no size on the entry.
-- Migration 25's rollback has counted every tenant again by that measure
-- already. On Citus the column goes; the counts there were the store's.
SET LOCAL ROLE pplane_owner;

DO $count$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    DROP TRIGGER outbox_events_count_inserted ON outbox_events;
    DROP TRIGGER outbox_events_count_updated ON outbox_events;
    DROP TRIGGER outbox_events_count_deleted ON outbox_events;
    DROP FUNCTION outbox_events_count_by_hand();
    DROP TRIGGER outbox_events_size_payload ON outbox_events;
    DROP FUNCTION outbox_events_size_payload();

    -- Migration 20's, as it wrote them.
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
END
$count$;

DO $column$
BEGIN
    ALTER TABLE outbox_events DROP COLUMN payload_bytes;
END
$column$;
