-- Operations that run themselves (docs/jobs.md): outbox purge, checkpoint
-- pruning, projection refresh and backup verification, each on a schedule
-- inside `pplane worker` and `pplane serve --worker`, or once with
-- `pplane jobs run`.
--
-- Why: each was a command an operator had to remember (`outbox purge`,
-- `checkpoints prune`, `projections refresh`, the backup proof inside
-- `check all`), and the walkthrough's section 9 asks for cleanup that is
-- automated and a backup verified within 30 days. Tables that only grow
-- grew until someone noticed.
--
-- Like the migration history and the backup proofs, these tables live in
-- pplane_meta and belong to the login that migrates, which is the login
-- the jobs run as (the purge and the prune act in the tenants through the
-- runtime roles; the policies and the run history are the plane's, not a
-- tenant's). Nothing here is readable by pplane_app.

-- One policy per job for the whole plane. `every` is the interval between
-- the starts of two runs; `retention` and `keep_latest` say what a purge
-- or a prune keeps (NULL where the job has no such setting). The defaults
-- keep a week of delivered outbox entries, the newest 20 checkpoints of
-- each LangGraph thread, refresh the projections every 5 minutes and
-- verify a backup every 7 days, well inside the 30 the gate allows.
CREATE TABLE pplane_meta.job_policies (
    job         text        NOT NULL,
    every       interval    NOT NULL,
    enabled     boolean     NOT NULL DEFAULT true,
    retention   interval,
    keep_latest integer,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT job_policies_pkey PRIMARY KEY (job),
    CONSTRAINT job_policies_job_known CHECK (job IN
        ('outbox-purge', 'checkpoint-prune', 'projection-refresh', 'backup-verify')),
    -- Under a minute, a job's own bookkeeping would be most of its work.
    CONSTRAINT job_policies_every_minute CHECK (every >= interval '1 minute'),
    CONSTRAINT job_policies_retention_positive CHECK (retention > interval '0'),
    CONSTRAINT job_policies_keep_latest_positive CHECK (keep_latest >= 1)
);
INSERT INTO pplane_meta.job_policies (job, every, retention, keep_latest) VALUES
    ('outbox-purge', interval '1 hour', interval '7 days', NULL),
    ('checkpoint-prune', interval '1 hour', NULL, 20),
    ('projection-refresh', interval '5 minutes', NULL, NULL),
    ('backup-verify', interval '7 days', NULL, NULL);

-- A tenant's own retention for the jobs where one makes sense (the purge
-- and the prune: what a tenant must keep is its business and its
-- contracts'). No foreign key to tenants: on Citus `tenants` is a
-- reference table, which a local table of the coordinator may not point
-- at; the store sets these only for a tenant it has found.
CREATE TABLE pplane_meta.job_tenant_policies (
    job         text        NOT NULL,
    tenant_id   uuid        NOT NULL,
    retention   interval,
    keep_latest integer,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT job_tenant_policies_pkey PRIMARY KEY (job, tenant_id),
    CONSTRAINT job_tenant_policies_job_fkey FOREIGN KEY (job)
        REFERENCES pplane_meta.job_policies (job) ON DELETE CASCADE,
    CONSTRAINT job_tenant_policies_job_tenantable CHECK (job IN ('outbox-purge', 'checkpoint-prune')),
    CONSTRAINT job_tenant_policies_retention_positive CHECK (retention > interval '0'),
    CONSTRAINT job_tenant_policies_keep_latest_positive CHECK (keep_latest >= 1),
    CONSTRAINT job_tenant_policies_says_something
        CHECK (retention IS NOT NULL OR keep_latest IS NOT NULL)
);

-- Every run: who ran it, when, what it changed, how it ended. A run is
-- RUNNING until its holder records the end; one whose holder died (its
-- session's advisory lock, the lease, went with it) is closed as FAILED
-- by the next holder. Runs older than 90 days are deleted by the jobs
-- themselves, so this table does not only grow either.
CREATE TABLE pplane_meta.job_runs (
    id          uuid        NOT NULL,
    job         text        NOT NULL,
    holder      text        NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    rows        bigint,
    result      text        NOT NULL DEFAULT 'RUNNING',
    error       text,
    CONSTRAINT job_runs_pkey PRIMARY KEY (id),
    CONSTRAINT job_runs_job_fkey FOREIGN KEY (job)
        REFERENCES pplane_meta.job_policies (job) ON DELETE CASCADE,
    CONSTRAINT job_runs_result_known CHECK (result IN ('RUNNING', 'OK', 'FAILED')),
    CONSTRAINT job_runs_finished_when_ended CHECK ((result = 'RUNNING') = (finished_at IS NULL))
);
-- The last run of a job, and the history of one, newest first.
CREATE INDEX job_runs_job_started_idx ON pplane_meta.job_runs (job, started_at DESC);

GRANT SELECT ON pplane_meta.job_policies, pplane_meta.job_runs TO pplane_dispatcher;
