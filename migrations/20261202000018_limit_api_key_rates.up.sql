-- An API key may have a request rate of its own (`pplane apikey create
-- --rate R --burst B`, `pplane apikey limit`): `pplane serve` keeps a token
-- bucket per key, refilled at rate_per_s requests a second and holding at
-- most burst (docs/api.md, "Rate limits"). NULL means the server's default
-- for keys, so a key made before this migration, or without the flags,
-- follows whatever the server is started with.
--
-- The limits live on the key, not in the server's configuration, because a
-- tenant's integrations differ (a batch importer, an interactive agent) and
-- are told apart by their keys. The tenant's own bucket, shared by all its
-- keys, stays the server's setting.
SET LOCAL ROLE pplane_owner;

-- Inside DO, one subcommand per statement: Citus sends a DDL statement's
-- own text to the workers (at the top level, the whole file) and takes a
-- constraint only alone.
DO $rates$
BEGIN
    ALTER TABLE api_keys ADD COLUMN rate_per_s real;
    ALTER TABLE api_keys ADD COLUMN burst integer;
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_rate_positive
        CHECK (rate_per_s IS NULL OR rate_per_s > 0);
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_burst_positive
        CHECK (burst IS NULL OR burst >= 1);
    -- A member may change its own keys' limits, as it may revoke them.
    GRANT UPDATE (rate_per_s, burst) ON api_keys TO pplane_app;
END
$rates$;
