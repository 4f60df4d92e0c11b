-- Back to migration 14's member policies on Citus: is_member_of(tenant_id),
-- run for every row. On plain PostgreSQL this does nothing.
SET LOCAL ROLE pplane_owner;

DO $member$
DECLARE
    pol record;
    member constant text := 'tenant_id = current_tenant_id() AND is_member_of(tenant_id)';
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    -- A function is created and dropped by Citus over one connection per
    -- node, which it cannot do after the policies' changes went to the
    -- shards over several.
    SET LOCAL citus.multi_shard_modify_mode = 'sequential';
    CREATE FUNCTION is_member_of(tenant uuid) RETURNS boolean
        LANGUAGE plpgsql STABLE SECURITY DEFINER
        SET search_path = public, pg_temp
        SET citus.allow_nested_distributed_execution = on
        AS $fn$
    BEGIN
        RETURN EXISTS (SELECT 1 FROM user_tenants m
                       WHERE m.tenant_id = tenant AND m.user_id = current_user_id());
    END
    $fn$;
    REVOKE EXECUTE ON FUNCTION is_member_of(uuid) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION is_member_of(uuid) TO pplane_app;

    FOR pol IN SELECT tablename, policyname, with_check IS NOT NULL AS checks
               FROM pg_policies
               WHERE schemaname = 'public' AND qual LIKE '%current_member_tenant_id()%'
    LOOP
        EXECUTE format('ALTER POLICY %I ON %I USING (%s)', pol.policyname, pol.tablename, member);
        IF pol.checks THEN
            EXECUTE format('ALTER POLICY %I ON %I WITH CHECK (%s)',
                           pol.policyname, pol.tablename, member);
        END IF;
    END LOOP;
    DROP FUNCTION current_member_tenant_id();
END
$member$;
