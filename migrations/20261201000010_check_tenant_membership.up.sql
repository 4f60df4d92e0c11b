-- Every unit of work names a tenant and a principal (SET LOCAL app.tenant_id
-- and app.user_id). Row-level security already hides everything from a
-- principal that is not a member of that tenant, but it does so silently: a
-- read finds nothing, as if the tenant were empty, and a write fails on
-- whichever table it reaches first, with a policy violation that names an
-- internal table (tenant_event_heads). Neither tells the caller what is wrong.
--
-- The store calls this function as the last statement of the same simple
-- query that begins the transaction and sets the context, so it costs no
-- round trip: a non-member gets one clear error, SQLSTATE PA002 (pplane's
-- own class, next to PA001 for the append-only log), before any work.
--
-- It runs as the caller (SECURITY INVOKER, the default), so it answers with
-- exactly what row-level security lets pplane_app see: its own membership
-- row in the active tenant (policy user_tenants_own_membership), or nothing.
-- It grants nothing: a caller that skips it still sees no other tenant's rows.
SET LOCAL ROLE pplane_owner;

CREATE FUNCTION tenant_member_check() RETURNS void
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM user_tenants
                   WHERE tenant_id = current_tenant_id() AND user_id = current_user_id()) THEN
        RAISE EXCEPTION 'principal % is not a member of this tenant (%)',
                        current_user_id(), current_tenant_id()
            USING ERRCODE = 'PA002',
                  HINT = 'act as a member of the tenant (pplane tenant create prints one)';
    END IF;
END
$$;
