//! `pplane check schema` passes on a fresh database and fails, naming the
//! table and the rule, when any one rule is broken.

use pplane_cluster::EphemeralCluster;
use pplane_store::checks::{schema_check, Area, CheckReport};
use pplane_store::testing::TestDb;
use pplane_store::{Admin, MigrationSet};

use crate::support::exec;

async fn check_after(breakage: &str) -> CheckReport {
    let db = TestDb::migrated().await;
    let mut admin = db.admin().await;
    if !breakage.is_empty() {
        exec(&mut admin, breakage).await;
    }
    schema_check(&mut admin, &MigrationSet::embedded())
        .await
        .unwrap()
}

/// The failing results' (check, evidence), for assertions and messages.
fn failures(report: &CheckReport) -> Vec<(String, String)> {
    report
        .failures()
        .map(|r| (r.check.clone(), r.evidence.clone()))
        .collect()
}

fn assert_fails_naming(report: &CheckReport, check: &str, named: &str) {
    let fails = failures(report);
    assert!(!report.passed(), "the gate must fail");
    assert!(
        fails
            .iter()
            .any(|(c, e)| c.contains(check) && e.contains(named)),
        "expected a FAIL of {check:?} naming {named:?}, got {fails:#?}"
    );
}

#[tokio::test]
async fn a_fresh_database_passes_every_check() {
    let report = check_after("").await;
    assert!(report.passed(), "{:#?}", failures(&report));
    for area in [
        Area::SchemaCompliance,
        Area::MultiTenancy,
        Area::AppendOnly,
        Area::Idempotency,
        Area::Migrations,
        Area::Performance,
    ] {
        assert!(
            report.results.iter().any(|r| r.area == area),
            "{area:?} is covered"
        );
    }
    let probe = report
        .results
        .iter()
        .find(|r| r.check.contains("tenant A reads none"))
        .expect("the live probe ran");
    assert!(probe.evidence.contains("A sees 0"), "{}", probe.evidence);
}

#[tokio::test]
async fn rls_disabled_on_one_table_fails() {
    let report = check_after(
        "SET ROLE pplane_owner; ALTER TABLE steps DISABLE ROW LEVEL SECURITY; RESET ROLE",
    )
    .await;
    assert_fails_naming(&report, "row-level security enabled and forced", "steps");
}

#[tokio::test]
async fn rls_not_forced_on_one_table_fails() {
    let report = check_after(
        "SET ROLE pplane_owner; ALTER TABLE effects NO FORCE ROW LEVEL SECURITY; RESET ROLE",
    )
    .await;
    assert_fails_naming(
        &report,
        "row-level security enabled and forced",
        "effects: row-level security enabled but not forced",
    );
}

#[tokio::test]
async fn a_missing_debugging_index_fails() {
    let report =
        check_after("SET ROLE pplane_owner; DROP INDEX runs_correlation_idx; RESET ROLE").await;
    assert_fails_naming(
        &report,
        "indexes serve every query",
        "runs(tenant_id, correlation_id)",
    );
}

#[tokio::test]
async fn a_missing_unique_constraint_fails() {
    let report = check_after(
        "SET ROLE pplane_owner; ALTER TABLE signals DROP CONSTRAINT signals_source_key; RESET ROLE",
    )
    .await;
    assert_fails_naming(
        &report,
        "unique keys",
        "signals: no UNIQUE (tenant_id, source_channel, source_id)",
    );
}

#[tokio::test]
async fn a_missing_rollback_fails() {
    let db = TestDb::migrated().await;
    let mut admin = db.admin().await;
    let mut set = MigrationSet::embedded();
    set.migrations[3].down = None;
    let report = schema_check(&mut admin, &set).await.unwrap();
    assert_fails_naming(
        &report,
        "rollback script",
        &set.migrations[3].version.to_string(),
    );
}

#[tokio::test]
async fn a_dropped_policy_fails_and_the_probe_sees_the_leak() {
    // Without its fence and member policy, and with a permissive policy that
    // lets everything through, tenant A can read B's runs.
    let report = check_after(
        "SET ROLE pplane_owner;
         DROP POLICY runs_tenant_fence ON runs;
         DROP POLICY runs_member_access ON runs;
         CREATE POLICY runs_open ON runs TO pplane_app USING (true) WITH CHECK (true);
         RESET ROLE",
    )
    .await;
    assert_fails_naming(&report, "fence on every table", "runs");
    assert_fails_naming(&report, "membership of the active tenant", "runs");
    assert_fails_naming(
        &report,
        "tenant A reads none",
        "runs: 1 row(s) of B visible to A",
    );
}

#[tokio::test]
async fn a_disabled_append_only_trigger_fails() {
    let report = check_after(
        "SET ROLE pplane_owner; ALTER TABLE orchestration_events DISABLE TRIGGER orchestration_events_no_truncate; RESET ROLE",
    )
    .await;
    assert_fails_naming(&report, "triggers reject", "TRUNCATE");
}

#[tokio::test]
async fn regranted_event_privileges_fail() {
    let report = check_after("GRANT UPDATE ON orchestration_events TO pplane_app").await;
    assert_fails_naming(
        &report,
        "no role holds UPDATE",
        "pplane_app holds UPDATE on orchestration_events",
    );
}

#[tokio::test]
async fn a_cross_tenant_foreign_key_fails() {
    let report = check_after(
        "SET ROLE pplane_owner;
         ALTER TABLE steps DROP CONSTRAINT steps_run_fkey;
         ALTER TABLE runs ADD CONSTRAINT runs_id_key UNIQUE (id);
         ALTER TABLE steps ADD CONSTRAINT steps_run_fkey FOREIGN KEY (run_id) REFERENCES runs (id);
         RESET ROLE",
    )
    .await;
    assert_fails_naming(
        &report,
        "foreign keys are composite",
        "steps_run_fkey: not composite on tenant_id",
    );
}

#[tokio::test]
async fn a_table_without_tenant_id_fails() {
    let report =
        check_after("SET ROLE pplane_owner; CREATE TABLE notes (id uuid PRIMARY KEY); RESET ROLE")
            .await;
    assert_fails_naming(&report, "tenant_id uuid NOT NULL", "notes: no tenant_id");
    assert_fails_naming(&report, "row-level security enabled and forced", "notes");
}

#[tokio::test]
async fn a_widened_status_set_fails() {
    let report = check_after(
        "SET ROLE pplane_owner;
         ALTER TABLE runs DROP CONSTRAINT runs_status_check;
         ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN ('PENDING', 'RUNNING', 'DONE'));
         RESET ROLE",
    )
    .await;
    assert_fails_naming(&report, "state sets", "runs_status_check");
}

#[tokio::test]
async fn the_dispatcher_exception_on_another_table_fails() {
    // The fence may let the dispatcher through only on the outbox and the
    // destinations; anywhere else it is a hole.
    let report = check_after(
        "SET ROLE pplane_owner;
         DROP POLICY runs_tenant_fence ON runs;
         CREATE POLICY runs_tenant_fence ON runs AS RESTRICTIVE FOR ALL TO PUBLIC
             USING (tenant_id = current_tenant_id() OR current_user = 'pplane_dispatcher')
             WITH CHECK (tenant_id = current_tenant_id());
         RESET ROLE",
    )
    .await;
    assert_fails_naming(&report, "fence on every table", "runs");
}

/// Roles are cluster-wide, so this one runs on a cluster of its own.
#[tokio::test]
async fn a_dispatcher_that_bypasses_rls_fails() {
    let cluster = EphemeralCluster::start().unwrap();
    let mut root = Admin::connect(&cluster.url("postgres")).await.unwrap();
    root.database_ensure("plane").await.unwrap();
    let mut admin = Admin::connect(&cluster.url("plane")).await.unwrap();
    let set = MigrationSet::embedded();
    admin.migrate_up(&set, None, |_| {}).await.unwrap();
    exec(&mut root, "ALTER ROLE pplane_dispatcher BYPASSRLS").await;
    let report = schema_check(&mut admin, &set).await.unwrap();
    assert_fails_naming(&report, "own nothing", "pplane_dispatcher has BYPASSRLS");
}

#[tokio::test]
async fn a_missing_outbox_claim_index_fails() {
    let report =
        check_after("SET ROLE pplane_owner; DROP INDEX outbox_events_tenant_due_idx; RESET ROLE")
            .await;
    assert_fails_naming(&report, "outbox worker's claim", "available_at");
}

/// A view runs as its owner unless it is security_invoker: one over a
/// tenant table would read every tenant's rows. An extension's own views
/// (Citus's citus_tables, pg_buffercache's) read the extension's catalog
/// and are not the plane's to check.
#[tokio::test]
async fn a_view_that_bypasses_rls_fails_and_an_extensions_view_does_not() {
    let report = check_after(
        "CREATE VIEW every_run AS SELECT * FROM runs;
         CREATE VIEW own_runs WITH (security_invoker = true) AS SELECT * FROM runs;
         CREATE EXTENSION pg_buffercache;",
    )
    .await;
    assert_fails_naming(&report, "bypasses row-level security", "every_run");
    let evidence: Vec<(String, String)> = failures(&report);
    let named = |name: &str| evidence.iter().any(|(_, e)| e.contains(name));
    assert!(!named("own_runs"), "{evidence:#?}");
    assert!(!named("pg_buffercache"), "{evidence:#?}");
}
