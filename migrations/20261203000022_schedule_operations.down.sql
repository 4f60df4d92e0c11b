-- The schedules go, with their history: the operations stay as commands
-- (`outbox purge`, `checkpoints prune`, `projections refresh`,
-- `check all`).
DROP TABLE pplane_meta.job_runs;
DROP TABLE pplane_meta.job_tenant_policies;
DROP TABLE pplane_meta.job_policies;
