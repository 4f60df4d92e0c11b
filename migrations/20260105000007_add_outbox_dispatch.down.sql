SET LOCAL ROLE pplane_owner;

REVOKE EXECUTE ON FUNCTION current_tenant_id(), current_user_id() FROM pplane_dispatcher;
REVOKE ALL ON outbox_events FROM pplane_dispatcher;

DROP POLICY outbox_events_dispatch_purge ON outbox_events;
DROP POLICY outbox_events_dispatch_claim ON outbox_events;
DROP POLICY outbox_events_dispatch_read ON outbox_events;
DROP POLICY outbox_events_tenant_fence ON outbox_events;
CREATE POLICY outbox_events_tenant_fence ON outbox_events AS RESTRICTIVE FOR ALL TO PUBLIC
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());

DROP TRIGGER outbox_events_schedule ON outbox_events;
DROP FUNCTION outbox_events_schedule();
DROP INDEX outbox_events_destination_idx;
DROP INDEX outbox_events_delivered_idx;
DROP INDEX outbox_events_due_idx;
ALTER TABLE outbox_events
    DROP CONSTRAINT outbox_events_available_when_open,
    DROP CONSTRAINT outbox_events_attempt_nonnegative,
    DROP CONSTRAINT outbox_events_destination_fkey,
    DROP COLUMN available_at,
    DROP COLUMN attempt,
    DROP COLUMN destination_id;

DROP TABLE effect_destinations;

-- The delivery principal's memberships stay: they are rows, like any other
-- member's, and removing them could take away a tenant's only member.
DROP TRIGGER tenants_delivery_principal ON tenants;
DROP FUNCTION tenant_add_delivery_principal();

RESET ROLE;
DROP TABLE pplane_meta.plane;
REVOKE USAGE ON SCHEMA pplane_meta FROM pplane_owner;
REVOKE USAGE ON SCHEMA public, pplane_meta FROM pplane_dispatcher;
-- The role is shared by every database of the cluster: kept, as migration 1
-- keeps pplane_app and pplane_owner while other databases use them.
