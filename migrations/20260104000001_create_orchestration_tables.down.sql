-- Drops everything the up migration created, children before parents.
SET LOCAL ROLE pplane_owner;

DROP TABLE outbox_events;
DROP TABLE orchestration_events;
DROP TABLE run_checkpoints;
DROP TABLE tool_calls;
DROP TABLE effects;
DROP TABLE steps;
DROP TABLE runs;
DROP TABLE signals;
DROP TABLE user_tenants;
DROP TABLE tenants;
DROP DOMAIN actor_ref;
DROP FUNCTION set_updated_at();
DROP FUNCTION current_user_id();
DROP FUNCTION current_tenant_id();

RESET ROLE;
REVOKE USAGE, CREATE ON SCHEMA public FROM pplane_owner;
REVOKE USAGE ON SCHEMA public FROM pplane_app;
REVOKE SELECT ON pplane_meta.schema_migrations FROM pplane_app;
REVOKE USAGE ON SCHEMA pplane_meta FROM pplane_app;

-- Roles are shared by every database of the cluster: drop them only when no
-- other database still has objects or privileges that need them.
DO $roles$
BEGIN
    DROP ROLE IF EXISTS pplane_app;
    DROP ROLE IF EXISTS pplane_owner;
EXCEPTION WHEN dependent_objects_still_exist THEN
    RAISE NOTICE 'roles pplane_owner and pplane_app are kept: other databases still use them';
END
$roles$;
