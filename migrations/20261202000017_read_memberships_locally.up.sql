-- On Citus, the member function reads the node's own copy of user_tenants
-- instead of asking Citus for it. On plain PostgreSQL this does nothing.
--
-- Why: after migration 16 the policies call current_member_tenant_id()
-- once per scan instead of once per row, but each call was a query of a
-- reference table nested in the shard query Citus is running, 0.29 ms a
-- call, and a scan re-run (a recursive causation walk, a nested loop)
-- calls it again: a 19-event trace called it 28 times (8.1 ms).
--
-- How: a reference table has one shard, with one name, copied whole to
-- every node, the coordinator included (it is in the metadata); Citus
-- keeps each copy current with every write (two-phase commit). Read that
-- copy by its name, and the call is a plain index lookup. The name is
-- fixed while the table stays a reference table, and only migration 14's
-- down undoes that (after this migration's down has put the Citus query
-- back). If the copy were missing, the query fails, it does not let
-- anyone in. Plain SQL, since the function no longer needs a nested
-- distributed execution.
SET LOCAL ROLE pplane_owner;

DO $local$
DECLARE
    shard text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    SELECT shard_name(logicalrelid, shardid) INTO STRICT shard
    FROM pg_dist_shard WHERE logicalrelid = 'user_tenants'::regclass;
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION current_member_tenant_id() RETURNS uuid '
        'LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS %L',
        format('SELECT m.tenant_id FROM %s m '
               'WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id()',
               shard));
END
$local$;
