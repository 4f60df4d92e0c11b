-- Brings every table back to the coordinator as a plain table, with the
-- single-node policies and the tenants trigger; nothing happens on plain
-- PostgreSQL. Earlier migrations' downs then run on local tables only:
-- dropping an index of a distributed table can wait forever on Citus's own
-- connections back to the coordinator, which also holds the reference
-- tables' copies.
--
-- The restrictive fences come back (the up dropped them: Citus would copy
-- them to the shards as permissive).
--
-- Rows come back with their tables (undistribute_table copies them, under
-- FORCE off for this transaction, as on the way up); foreign keys are
-- dropped and re-created around the move for the same reason as there.
--
-- Privileges come back as they were: undistribute_table makes a new table,
-- which gives its owner every privilege again, so the owner's own UPDATE,
-- DELETE and TRUNCATE on the event log (revoked by migration 3) would
-- return. Each table's grants are read before the move and whatever the
-- new table holds beyond them is revoked after. (Fixed in this file after
-- it had landed, found by the Citus migrations spec stepping 16 to 14
-- down and up; the up, the part a database records, is unchanged.)
SET LOCAL ROLE pplane_owner;

DO $undistribute$
DECLARE
    fk record;
    fks jsonb := '[]';
    pol record;
    t text;
    tables text[];
    grants jsonb := '{}';
    extra record;
    body text;
    member constant text := 'tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM user_tenants m '
        'WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id())';
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;

    -- Distributed tables first, the reference tables they point to last.
    SELECT array_agg(p.logicalrelid::regclass::text ORDER BY p.partmethod = 'n', p.logicalrelid::regclass::text)
    INTO tables
    FROM pg_dist_partition p
    JOIN pg_class c ON c.oid = p.logicalrelid
    WHERE c.relnamespace = 'public'::regnamespace;

    FOR fk IN SELECT conrelid::regclass::text AS tbl, conname::text AS name,
                     pg_get_constraintdef(oid) AS def
              FROM pg_constraint
              WHERE contype = 'f' AND connamespace = 'public'::regnamespace
                -- the tables, not the reference tables' shards beside them
                AND conrelid IN (SELECT logicalrelid FROM pg_dist_partition)
    LOOP
        fks := fks || jsonb_build_object('tbl', fk.tbl, 'name', fk.name, 'def', fk.def);
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.name);
    END LOOP;
    FOREACH t IN ARRAY tables LOOP
        grants := grants || jsonb_build_object(t, (
            SELECT coalesce(jsonb_agg(a.grantee::text || ':' || a.privilege_type), '[]')
            FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = t::regclass));
    END LOOP;
    FOREACH t IN ARRAY tables LOOP
        EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', t);
        PERFORM undistribute_table(t);
    END LOOP;
    FOR extra IN SELECT tbl, a.privilege_type,
                        CASE a.grantee WHEN 0 THEN 'PUBLIC'
                             ELSE a.grantee::regrole::text END AS grantee
                 FROM unnest(tables) AS tbl, pg_class c, aclexplode(c.relacl) a
                 WHERE c.oid = tbl::regclass
                   AND NOT (grants -> tbl) ? (a.grantee::text || ':' || a.privilege_type)
    LOOP
        EXECUTE format('REVOKE %s ON %s FROM %s', extra.privilege_type, extra.tbl, extra.grantee);
    END LOOP;
    FOR fk IN SELECT * FROM jsonb_to_recordset(fks) AS x(tbl text, name text, def text) LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.name, fk.def);
    END LOOP;
    FOREACH t IN ARRAY tables LOOP
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    END LOOP;

    FOR pol IN SELECT tablename, policyname, with_check IS NOT NULL AS checks
               FROM pg_policies
               WHERE schemaname = 'public' AND qual LIKE '%is_member_of%'
    LOOP
        EXECUTE format('ALTER POLICY %I ON %I USING (%s)', pol.policyname, pol.tablename, member);
        IF pol.checks THEN
            EXECUTE format('ALTER POLICY %I ON %I WITH CHECK (%s)', pol.policyname, pol.tablename, member);
        END IF;
    END LOOP;
    DROP FUNCTION is_member_of(uuid);

    -- The restrictive fences (migrations 2, 5, 7, 8, 11, 12), and the
    -- owner's administration back to the fence's care.
    FOR t IN SELECT c.relname::text FROM pg_class c
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
    LOOP
        EXECUTE format('CREATE POLICY %I ON %I AS RESTRICTIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
            t || '_tenant_fence', t,
            CASE WHEN t IN ('outbox_events', 'effect_destinations')
                 THEN 'tenant_id = current_tenant_id() OR current_user = ''pplane_dispatcher'''
                 ELSE 'tenant_id = current_tenant_id()' END,
            CASE WHEN t = 'outbox_events'
                 THEN 'tenant_id = current_tenant_id() OR current_user = ''pplane_dispatcher'''
                 ELSE 'tenant_id = current_tenant_id()' END);
    END LOOP;
    ALTER POLICY tenants_owner_admin ON tenants USING (true) WITH CHECK (true);
    ALTER POLICY user_tenants_owner_admin ON user_tenants USING (true) WITH CHECK (true);

    -- event_append_batch's INSERT without the RETURNING the up gave it.
    SELECT prosrc INTO body FROM pg_proc WHERE oid = 'event_append_batch(jsonb)'::regprocedure;
    EXECUTE format('CREATE OR REPLACE FUNCTION event_append_batch(batch jsonb) '
                   'RETURNS TABLE (group_ordinal integer, base_sequence bigint) '
                   'LANGUAGE plpgsql SECURITY INVOKER AS %L',
                   replace(replace(body,
                       'WITH appended AS (INSERT INTO orchestration_events', 'INSERT INTO orchestration_events'),
                       'event_data jsonb, correlation_id uuid, causation_id uuid, actor text) RETURNING 1)
        SELECT count(*) INTO n FROM appended;',
                       'event_data jsonb, correlation_id uuid, causation_id uuid, actor text);'));

    CREATE TRIGGER tenants_delivery_principal AFTER INSERT ON tenants
        FOR EACH ROW EXECUTE FUNCTION tenant_add_delivery_principal();
END
$undistribute$;

RESET ROLE;

DO $database$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    EXECUTE format('ALTER DATABASE %I RESET citus.propagate_set_commands', current_database());
END
$database$;
