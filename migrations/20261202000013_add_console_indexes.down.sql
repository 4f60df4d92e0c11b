-- The console's filters go back to scanning the tenant's runs and signals.
SET LOCAL ROLE pplane_owner;

DROP INDEX signals_source_id_idx;
DROP INDEX runs_status_idx;
