-- Counts every tenant again by the measure before migration 24,
-- pg_column_size(payload), which migration 20's triggers (restored by
-- migration 24's rollback) and the store before this release keep. The
-- sizes go with their column in migration 24's rollback.
SET LOCAL ROLE pplane_owner;

DO $recount$
BEGIN
    RESET ROLE;
    UPDATE tenant_event_heads h
    SET pending_effects = coalesce(o.n, 0), pending_bytes = coalesce(o.bytes, 0)
    FROM tenant_event_heads t
    LEFT JOIN (SELECT tenant_id, count(*) AS n, sum(pg_column_size(payload)) AS bytes
               FROM outbox_events WHERE status IN ('PENDING', 'IN_FLIGHT')
               GROUP BY tenant_id) o ON o.tenant_id = t.tenant_id
    WHERE h.tenant_id = t.tenant_id
      AND (h.pending_effects, h.pending_bytes) IS DISTINCT FROM (coalesce(o.n, 0), coalesce(o.bytes, 0));
    SET LOCAL ROLE pplane_owner;
END
$recount$;
