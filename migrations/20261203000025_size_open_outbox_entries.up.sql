-- Sizes the entries that may still be counted, and counts every tenant
-- again by those sizes (migration 24 says why the measure changed).
--
-- Why a migration of its own: on Citus this transaction updates the shards
-- as the login that migrates, which sees every tenant's rows (the owner's
-- policies would hide them), and Citus refuses rows changed by one user on
-- a shard that another user altered in the same transaction. Migration 24
-- altered outbox_events as the owner; this one only writes rows.
--
-- Entries delivered before this release are left unsized (NULL): a
-- delivered entry never opens again through the store. Dead letters are
-- sized, since a requeue opens them. The recount also puts right the
-- bytes that migration 20's triggers left behind.
SET LOCAL ROLE pplane_owner;

DO $backfill$
BEGIN
    RESET ROLE;
    UPDATE outbox_events SET payload_bytes = octet_length(payload::text)
    WHERE status <> 'DELIVERED' AND payload_bytes IS NULL;

    UPDATE tenant_event_heads h
    SET pending_effects = coalesce(o.n, 0), pending_bytes = coalesce(o.bytes, 0)
    FROM tenant_event_heads t
    LEFT JOIN (SELECT tenant_id, count(*) AS n, sum(coalesce(payload_bytes, 0)) AS bytes
               FROM outbox_events WHERE status IN ('PENDING', 'IN_FLIGHT')
               GROUP BY tenant_id) o ON o.tenant_id = t.tenant_id
    WHERE h.tenant_id = t.tenant_id
      AND (h.pending_effects, h.pending_bytes) IS DISTINCT FROM (coalesce(o.n, 0), coalesce(o.bytes, 0));
    SET LOCAL ROLE pplane_owner;
END
$backfill$;
