-- Every key follows the server's default rate again. (Inside DO for
-- Citus, as in the up.)
SET LOCAL ROLE pplane_owner;

DO $rates$
BEGIN
    REVOKE UPDATE (rate_per_s, burst) ON api_keys FROM pplane_app;
    ALTER TABLE api_keys DROP CONSTRAINT api_keys_burst_positive;
    ALTER TABLE api_keys DROP CONSTRAINT api_keys_rate_positive;
    ALTER TABLE api_keys DROP COLUMN burst;
    ALTER TABLE api_keys DROP COLUMN rate_per_s;
END
$rates$;
