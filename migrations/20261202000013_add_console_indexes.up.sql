-- Indexes for the console's runs list (`pplane serve`, `/runs`).
--
-- The list pages a tenant's runs newest first (keyset on the UUIDv7 id,
-- which the primary key already serves). Two of its filters would otherwise
-- walk the tenant's whole history to fill a page:
--
-- - by status: failed runs are the ones an operator looks for, and they are
--   rare, so a backward scan of the primary key that skips every completed
--   run reads nearly all of them before it finds fifty failed ones. With the
--   status before the id, each status's runs are one range, newest first.
--   A run changes status a few times in its life, so the cost to writers is
--   a few index entries per run.
-- - by the signal's source id (a ticket number, a thread id): the unique key
--   `(tenant_id, source_channel, source_id)` needs the channel first, and
--   the search does not know it. text_pattern_ops lets a prefix (LIKE
--   'abc%') use the index whatever the database's collation.
SET LOCAL ROLE pplane_owner;

CREATE INDEX runs_status_idx ON runs (tenant_id, status, id);
CREATE INDEX signals_source_id_idx ON signals (tenant_id, source_id text_pattern_ops);
