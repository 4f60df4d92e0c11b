-- Back to migration 16's member function on Citus: the same question,
-- asked of user_tenants through Citus. On plain PostgreSQL this does nothing.
SET LOCAL ROLE pplane_owner;

DO $local$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    CREATE OR REPLACE FUNCTION current_member_tenant_id() RETURNS uuid
        LANGUAGE plpgsql STABLE SECURITY DEFINER
        SET search_path = public, pg_temp
        SET citus.allow_nested_distributed_execution = on
        AS $fn$
    BEGIN
        RETURN (SELECT m.tenant_id FROM user_tenants m
                WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id());
    END
    $fn$;
END
$local$;
