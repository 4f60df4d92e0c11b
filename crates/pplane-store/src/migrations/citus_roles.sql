-- Before the first migration on a Citus cluster: the plane's three roles,
-- each able to log in, and the one parameter grant the Citus profile needs.
--
-- Why before: Citus propagates each CREATE FUNCTION, GRANT and policy to
-- the workers as it happens, over connections of its own, which cannot see
-- a role that the migration's still-open transaction has just created (the
-- first migration creates pplane_owner and then creates functions as it).
-- Roles made and committed here reach every node first.
--
-- Why LOGIN: Citus opens its connections to the workers as the current
-- user, so a transaction that has done SET LOCAL ROLE pplane_owner (every
-- migration), pplane_app (all runtime work) or pplane_dispatcher (the
-- outbox's claims) connects to each worker as that role (Citus issue 7719).
-- On plain PostgreSQL the owner and the dispatcher stay NOLOGIN. On Citus
-- the node-to-node authentication decides who may use these logins:
-- pg_dist_authinfo, certificates, or pg_hba.conf entries that admit them
-- from the cluster's own nodes only (docs/citus.md).
--
-- Every statement may find its work done (a role exists, a grant is
-- there, or another database's migration made them a moment ago).
DO $roles$
DECLARE
    stmt text;
BEGIN
    FOREACH stmt IN ARRAY ARRAY[
        'CREATE ROLE pplane_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE',
        'CREATE ROLE pplane_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT',
        'CREATE ROLE pplane_dispatcher LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT',
        'ALTER ROLE pplane_owner LOGIN',
        'ALTER ROLE pplane_dispatcher LOGIN',
        'GRANT pplane_owner TO ' || quote_ident(current_user),
        'GRANT pplane_app TO ' || quote_ident(current_user),
        'GRANT pplane_dispatcher TO ' || quote_ident(current_user),
        'GRANT pplane_dispatcher TO pplane_app',
        -- Cluster-wide, like the roles: the member policies' function
        -- (migration 14) sets it, and runs as the owner.
        'GRANT SET ON PARAMETER citus.allow_nested_distributed_execution TO pplane_owner']
    LOOP
        BEGIN
            EXECUTE stmt;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END LOOP;
END
$roles$;

