-- The Citus profile: on a database where the citus extension is present,
-- every tenant table is distributed by tenant_id into one colocation group,
-- and tenants and user_tenants become reference tables (a copy on every
-- node). On plain PostgreSQL this migration does nothing: one set of
-- migrations serves both, and the history says the same on each.
--
-- Why by tenant_id: every primary, unique and foreign key already starts
-- with it and every runtime transaction stays inside one tenant, so a
-- tenant's rows of every table live in one shard group on one worker, and
-- each tenant-scoped statement is routed to that worker alone. Composite
-- foreign keys (tenant_id, parent_id) are then colocated joins.
--
-- Why reference tables for tenants and user_tenants: every policy asks
-- "is the principal a member of this tenant?", on the worker where the
-- statement runs; a reference table answers there without a network hop.
--
-- What changes besides placement:
-- - Citus refuses a subquery in a policy of a distributed table, so the
--   member policies call is_member_of(tenant_id), a STABLE SECURITY DEFINER
--   function with the same EXISTS inside (it runs per row: ~60-90 us a row
--   on Citus against ~6 us for the subquery form here, which is why plain
--   PostgreSQL keeps the subquery). It may query a reference table from a
--   statement Citus is already executing only with
--   citus.allow_nested_distributed_execution, which the owner may set
--   (granted with the roles: crates/pplane-store/src/migrations/citus_roles.sql).
-- - Citus copies a table's policies to its shards and to the workers as
--   PERMISSIVE whatever they were (13.2: its policy deparser never writes
--   AS RESTRICTIVE), and a restrictive fence turned permissive widens
--   access: `fence OR member` lets any principal into the active tenant
--   (the schema gate's live probe caught exactly that). So on Citus there
--   is no restrictive policy: the fences are dropped and every permissive
--   policy carries the fence itself. The member policies already did; the
--   owner's two administration policies get it here; the dispatcher's
--   policies keep working across tenants, as their fence allowed.
-- - Citus runs an INSERT ... SELECT whose rows come from no distributed
--   table (event_append_batch's jsonb_to_recordset) on the coordinator and
--   sends the rows with COPY, which PostgreSQL refuses on a table under
--   row-level security. With RETURNING, Citus instead stages the rows as
--   intermediate results next to the target shard and inserts them there
--   with a plain INSERT, under the policies. The function's one INSERT
--   gains a RETURNING here (read into the row count it already keeps);
--   the store's own statements of that shape return rows already.
-- - The tenants trigger that adds the delivery principal (migration 7) is
--   dropped: a trigger on a reference table fires on every node's copy, and
--   pplane_meta.plane lives on the coordinator only. The store adds that
--   membership itself (Store::tenant_create).
-- - The append-only and updated_at triggers stay (they fire on the workers,
--   in the shard's own transaction); Citus creates them on shards only with
--   citus.enable_unsafe_triggers.
-- - The store sets the tenant context with SET LOCAL, which Citus forwards
--   to the workers only with citus.propagate_set_commands = 'local': set
--   for this database, so every new session has it.
--
-- Existing rows move with their tables: create_distributed_table copies
-- them with COPY, which Citus refuses under forced row-level security, so
-- FORCE is off for the length of this transaction, which holds each table's
-- lock from the ALTER to the commit (as migration 7 does for its backfill).
-- Foreign keys among the tenant tables are dropped and re-created around the
-- distribution: while half the tables are distributed, a key between a
-- local and a distributed table is refused.
DO $database$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    -- As the migrating login, before the owner's turn. (The owner's right
    -- to set citus.allow_nested_distributed_execution is cluster-wide and
    -- granted with the roles, before the first migration.)
    EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands = %L',
                   current_database(), 'local');
END
$database$;

SET LOCAL ROLE pplane_owner;

DO $distribute$
DECLARE
    fk record;
    fks jsonb := '[]';
    pol record;
    t text;
    tenant_tables text[];
    body text;
    staged text;
    first_table constant text := 'signals';
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    SET LOCAL citus.enable_unsafe_triggers = on;

    -- Every table of the plane that carries a tenant, but the two above.
    SELECT array_agg(c.relname::text ORDER BY c.relname::text <> first_table, c.relname::text)
    INTO tenant_tables
    FROM pg_class c
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
      AND c.relname NOT IN ('tenants', 'user_tenants');

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

    -- The member policies: the same rule, in the form Citus accepts.
    FOR pol IN SELECT tablename, policyname, with_check IS NOT NULL AS checks
               FROM pg_policies
               WHERE schemaname = 'public' AND qual LIKE '%user_tenants%'
    LOOP
        EXECUTE format('ALTER POLICY %I ON %I USING (tenant_id = current_tenant_id() AND is_member_of(tenant_id))',
                       pol.policyname, pol.tablename);
        IF pol.checks THEN
            EXECUTE format('ALTER POLICY %I ON %I WITH CHECK (tenant_id = current_tenant_id() AND is_member_of(tenant_id))',
                           pol.policyname, pol.tablename);
        END IF;
    END LOOP;

    FOR pol IN SELECT tablename, policyname FROM pg_policies
               WHERE schemaname = 'public' AND permissive = 'RESTRICTIVE'
    LOOP
        EXECUTE format('DROP POLICY %I ON %I', pol.policyname, pol.tablename);
    END LOOP;
    ALTER POLICY tenants_owner_admin ON tenants
        USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
    ALTER POLICY user_tenants_owner_admin ON user_tenants
        USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());

    DROP TRIGGER tenants_delivery_principal ON tenants;

    SELECT prosrc INTO body FROM pg_proc WHERE oid = 'event_append_batch(jsonb)'::regprocedure;
    staged := replace(replace(body,
        'INSERT INTO orchestration_events', 'WITH appended AS (INSERT INTO orchestration_events'),
        'event_data jsonb, correlation_id uuid, causation_id uuid, actor text);',
        'event_data jsonb, correlation_id uuid, causation_id uuid, actor text) RETURNING 1)
        SELECT count(*) INTO n FROM appended;');
    IF staged = body OR staged NOT LIKE '%RETURNING 1)%' THEN
        RAISE EXCEPTION 'event_append_batch is not the function of migration 6';
    END IF;
    EXECUTE format('CREATE OR REPLACE FUNCTION event_append_batch(batch jsonb) '
                   'RETURNS TABLE (group_ordinal integer, base_sequence bigint) '
                   'LANGUAGE plpgsql SECURITY INVOKER AS %L', staged);

    FOR fk IN SELECT conrelid::regclass::text AS tbl, conname::text AS name,
                     pg_get_constraintdef(oid) AS def
              FROM pg_constraint
              WHERE contype = 'f' AND connamespace = 'public'::regnamespace
    LOOP
        fks := fks || jsonb_build_object('tbl', fk.tbl, 'name', fk.name, 'def', fk.def);
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.name);
    END LOOP;

    FOREACH t IN ARRAY ARRAY['tenants', 'user_tenants'] || tenant_tables LOOP
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
    END LOOP;

    PERFORM create_reference_table('tenants');
    PERFORM create_reference_table('user_tenants');
    FOREACH t IN ARRAY tenant_tables LOOP
        IF t = first_table THEN
            PERFORM create_distributed_table(t, 'tenant_id');
        ELSE
            PERFORM create_distributed_table(t, 'tenant_id', colocate_with => first_table);
        END IF;
    END LOOP;

    FOR fk IN SELECT * FROM jsonb_to_recordset(fks) AS x(tbl text, name text, def text) LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.name, fk.def);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['tenants', 'user_tenants'] || tenant_tables LOOP
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    END LOOP;
END
$distribute$;
