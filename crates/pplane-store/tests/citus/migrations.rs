//! Migrations on a Citus coordinator: the roles reach every node before the
//! first migration, each role can log in where Citus connects as it, and
//! the whole set goes up, down to nothing and up again.

use pplane_store::checks::schema_check;
use pplane_store::testing::citus::CitusDb;
use pplane_store::{Admin, MigrationSet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_migration_goes_up_down_and_up_again_on_a_three_node_cluster() {
    let db = CitusDb::empty().await;
    let set = MigrationSet::embedded();
    let mut admin = Admin::connect(db.url()).await.unwrap();
    let up = admin.migrate_up(&set, None, |_| {}).await.unwrap();
    assert_eq!(up.len(), set.migrations.len());

    // Citus connects to the workers as the current role: each of the
    // plane's roles exists on every worker and may log in there.
    let roles = db
        .text(
            "SELECT string_agg(result, ',' ORDER BY nodeport) FROM run_command_on_workers(
                 $$SELECT string_agg(rolname || ':' || rolcanlogin, ' ' ORDER BY rolname)
                   FROM pg_roles WHERE rolname LIKE 'pplane\\_%'$$)",
        )
        .await;
    let expected = "pplane_app:true pplane_dispatcher:true pplane_owner:true";
    assert_eq!(roles, format!("{expected},{expected}"));
    let owner_creates = "SELECT string_agg(result, ',') FROM run_command_on_workers(
        $$SELECT has_schema_privilege('pplane_owner', 'public', 'CREATE')$$)";
    assert_eq!(db.text(owner_creates).await, "t,t");
    // The schema gate passes on the coordinator (the tables are not
    // distributed yet; Citus's own views in public are not the plane's).
    let report = schema_check(&mut admin, &set).await.unwrap();
    let failed: Vec<(&str, &str)> = report
        .failures()
        .map(|r| (r.check.as_str(), r.evidence.as_str()))
        .collect();
    assert!(report.passed(), "{failed:#?}");

    let down = admin.migrate_down(&set, Some(0), |_| {}).await.unwrap();
    assert_eq!(down.len(), set.migrations.len());
    let left = db
        .text("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'")
        .await;
    assert_eq!(left, "", "tables left after rolling everything back");
    let again = admin.migrate_up(&set, None, |_| {}).await.unwrap();
    assert_eq!(again.len(), set.migrations.len());
    assert_eq!(db.text(owner_creates).await, "t,t");
    admin.close().await.unwrap();

    // An upgrade: a later session, which has the database's setting that
    // forwards SET LOCAL to the workers, steps the newest migrations down
    // and up again, and the gate passes after.
    // The version three steps below the newest, so the three newest go.
    let newest = set.migrations[set.migrations.len() - 4].version;
    let mut later = Admin::connect(db.url()).await.unwrap();
    let down = later
        .migrate_down(&set, Some(newest), |_| {})
        .await
        .unwrap();
    assert_eq!(down.len(), 3);
    later.close().await.unwrap();
    let mut later = Admin::connect(db.url()).await.unwrap();
    let up = later.migrate_up(&set, None, |_| {}).await.unwrap();
    assert_eq!(up.len(), 3);
    let report = schema_check(&mut later, &set).await.unwrap();
    let failed: Vec<&str> = report.failures().map(|r| r.check.as_str()).collect();
    assert!(report.passed(), "{failed:#?}");
    later.close().await.unwrap();
}
