-- Removes every policy and turns row-level security off again.
SET LOCAL ROLE pplane_owner;

DROP POLICY user_tenants_owner_admin ON user_tenants;
DROP POLICY tenants_owner_admin ON tenants;
DROP POLICY user_tenants_own_membership ON user_tenants;
DROP POLICY tenants_member_read ON tenants;

DO $rls$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['signals', 'runs', 'steps', 'effects', 'tool_calls',
                             'run_checkpoints', 'orchestration_events', 'outbox_events']
    LOOP
        EXECUTE format('DROP POLICY %I ON %I', t || '_member_access', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['tenants', 'user_tenants', 'signals', 'runs', 'steps', 'effects',
                             'tool_calls', 'run_checkpoints', 'orchestration_events', 'outbox_events']
    LOOP
        EXECUTE format('DROP POLICY %I ON %I', t || '_tenant_fence', t);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$rls$;
