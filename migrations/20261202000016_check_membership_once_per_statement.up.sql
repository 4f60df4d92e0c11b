-- On Citus, the member policies ask "is the principal a member of the
-- active tenant?" once per statement instead of once per row. On plain
-- PostgreSQL this migration does nothing.
--
-- Why: migration 14's policies call is_member_of(tenant_id), which the
-- planner must run for every row it reads, and each call is a query of a
-- reference table nested inside the shard query Citus is executing: about
-- 100 us a row. A 3,000-event read took 306 ms under the policy and 5 ms
-- without it (docs/citus.md, "What it costs").
--
-- How: current_member_tenant_id() returns the active tenant when the
-- active principal is its member, and NULL otherwise. The policy becomes
--     tenant_id = current_tenant_id() AND tenant_id = current_member_tenant_id()
-- which admits exactly the rows the old one did (a non-member's NULL
-- matches no row and fails every WITH CHECK). Its argument-free function
-- joins tenant_id's equivalence class, so the planner checks it once, as
-- a one-time filter beside the tenant filter every routed query carries,
-- or as an index condition where it does not. The same 3,000-event read
-- then takes 4 ms.
SET LOCAL ROLE pplane_owner;

DO $member$
DECLARE
    pol record;
    member constant text :=
        'tenant_id = current_tenant_id() AND tenant_id = current_member_tenant_id()';
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    -- A function is created and dropped by Citus over one connection per
    -- node, which it cannot do after the policies' changes went to the
    -- shards over several.
    SET LOCAL citus.multi_shard_modify_mode = 'sequential';
    CREATE FUNCTION current_member_tenant_id() RETURNS uuid
        LANGUAGE plpgsql STABLE SECURITY DEFINER
        SET search_path = public, pg_temp
        SET citus.allow_nested_distributed_execution = on
        AS $fn$
    BEGIN
        RETURN (SELECT m.tenant_id FROM user_tenants m
                WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id());
    END
    $fn$;
    REVOKE EXECUTE ON FUNCTION current_member_tenant_id() FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION current_member_tenant_id() TO pplane_app;

    FOR pol IN SELECT tablename, policyname, with_check IS NOT NULL AS checks
               FROM pg_policies
               WHERE schemaname = 'public' AND qual LIKE '%is_member_of(tenant_id)%'
    LOOP
        EXECUTE format('ALTER POLICY %I ON %I USING (%s)', pol.policyname, pol.tablename, member);
        IF pol.checks THEN
            EXECUTE format('ALTER POLICY %I ON %I WITH CHECK (%s)',
                           pol.policyname, pol.tablename, member);
        END IF;
    END LOOP;
    DROP FUNCTION is_member_of(uuid);
END
$member$;
