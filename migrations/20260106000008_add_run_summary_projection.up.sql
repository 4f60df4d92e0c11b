-- run_summary: a projection of runs with their step totals per status, retries
-- and duration, for dashboards and operators. Expendable: `pplane
-- projections rebuild` throws it away and builds it again, from the event log,
-- and proves the result equal to what the runtime tables say.
--
-- Why a table and not a materialized view: a materialized view's query runs
-- as its owner, and pplane_owner, under forced row-level security, sees no
-- tenant at all, so the view would always be empty; owning it by another
-- role would break "pplane_owner owns everything". As a table it is fenced
-- and policed like every other table (members of the active tenant may read
-- their tenant's rows), and it is written only by `pplane projections
-- refresh|rebuild`, as a login that sees every tenant (a superuser or a
-- BYPASSRLS operator), in one transaction, so readers never wait or see it
-- half-built.
--
-- Business code never reads projections: they lag the runtime tables by up
-- to one refresh. The store's repositories and operations do not touch this
-- table (a test holds them to it).
SET LOCAL ROLE pplane_owner;

CREATE TABLE run_summary (
    tenant_id       uuid        NOT NULL,
    run_id          uuid        NOT NULL,
    correlation_id  uuid        NOT NULL,
    status          varchar(20) NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz,
    duration_ms     double precision,
    steps_total     integer     NOT NULL,
    steps_pending   integer     NOT NULL,
    steps_running   integer     NOT NULL,
    steps_completed integer     NOT NULL,
    steps_failed    integer     NOT NULL,
    steps_skipped   integer     NOT NULL,
    steps_cancelled integer     NOT NULL,
    retries         integer     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT run_summary_pkey PRIMARY KEY (tenant_id, run_id),
    CONSTRAINT run_summary_tenant_fkey FOREIGN KEY (tenant_id)
        REFERENCES tenants (tenant_id) ON DELETE RESTRICT
);

CREATE TRIGGER run_summary_updated_at BEFORE UPDATE ON run_summary
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

ALTER TABLE run_summary ENABLE ROW LEVEL SECURITY;
ALTER TABLE run_summary FORCE ROW LEVEL SECURITY;
CREATE POLICY run_summary_tenant_fence ON run_summary AS RESTRICTIVE FOR ALL TO PUBLIC
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY run_summary_member_access ON run_summary AS PERMISSIVE FOR ALL TO pplane_app
    USING (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM user_tenants m
           WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id()))
    WITH CHECK (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM user_tenants m
           WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id()));

-- Members read it; only a refresh writes it.
GRANT SELECT ON run_summary TO pplane_app;
