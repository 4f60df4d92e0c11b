//! `pplane check all`: the production gate passes on a database the example
//! script filled, and exits 1, naming the item, once one thing is broken.

use std::process::Command;

use pplane_store::testing::TestDb;

use crate::support::{drive_example_run, pplane, Home};

#[tokio::test]
async fn the_production_gate_passes_then_fails_on_one_broken_item() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    drive_example_run(db.url());

    // From the repository root, so that the dependency graph is checked too.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let report = Command::new(env!("CARGO_BIN_EXE_pplane"))
        .args(["check", "all"])
        .env("DATABASE_URL", db.url())
        .current_dir(root)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(report.status.success(), "{text}");
    for part in [
        "# Production gate",
        "## 6 Multi-Tenancy",
        "## 9 Data Quality",
        "| PASS | uses an index: reconstruct 4: events |",
        "| PASS | migrations are reversible (verified live) |",
        "| PASS | no direct database access in feature code (dependency graph) |",
        "only pplane-store depends on a database driver",
        "| PASS | backup restores and passes the data gate |",
        "| PASS | a backup was verified in the last 30 days |",
        " 0 FAIL, 0 NOT APPLICABLE**",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }

    // Outside a checkout the graph is not applicable; a stale verification
    // fails when no new one is made.
    db.exec("UPDATE pplane_meta.backup_verifications SET verified_at = now() - interval '31 days'")
        .await;
    let stale = pplane(
        home.path(),
        Some(db.url()),
        &["check", "all", "--no-backup-verify", "--json"],
    );
    assert_eq!(stale.code, 1, "{stale:?}");
    let items = stale.json();
    let verdict = |name: &str| {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["item"].as_str().unwrap().contains(name))
            .map(|i| i["verdict"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(verdict("dependency graph"), "NOT APPLICABLE");
    assert_eq!(verdict("verified in the last 30 days"), "FAIL");

    // A broken row fails the data section.
    db.exec("UPDATE runs SET status = 'CANCELLED'").await;
    let broken = pplane(home.path(), Some(db.url()), &["check", "all"]);
    assert_eq!(broken.code, 1, "{broken:?}");
    assert!(
        broken
            .stdout
            .contains("| FAIL | each status is what its last event implies |"),
        "{}",
        broken.stdout
    );
}

/// On an external server with stock planner settings, the demo's own gate
/// passes with ten runs per tenant and with one, and again after ANALYZE
/// gives the planner real statistics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_passes_its_gate_at_any_size_on_an_external_server() {
    for runs in ["10", "1"] {
        let db = TestDb::migrated().await;
        let home = Home::new();
        let demo = pplane(home.path(), Some(db.url()), &["demo", "--runs", runs]);
        assert_eq!(demo.code, 0, "--runs {runs}: {demo:?}");
        assert!(demo.stdout.contains(" 0 FAIL, "), "{}", demo.stdout);
        db.exec("ANALYZE").await;
        let again = pplane(
            home.path(),
            Some(db.url()),
            &["check", "all", "--no-backup-verify"],
        );
        assert_eq!(again.code, 0, "--runs {runs}, after ANALYZE: {again:?}");
    }
}
