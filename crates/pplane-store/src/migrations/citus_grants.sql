-- After citus_roles.sql has committed, in a transaction of its own: the
-- owner creates the plane's objects in schema public on every node. A grant
-- made in the transaction that created the role cannot reach the workers
-- (Citus sends it over connections that do not see the new role yet), and
-- rolling back the first migration revokes it on every node; made here, on
-- every `migrate up`, Citus copies it to each worker.
GRANT USAGE, CREATE ON SCHEMA public TO pplane_owner;
