//! `pplane check all`: the production gate passes on a database the example
//! script filled, and exits 1, naming the item, once one thing is broken.

use std::process::Command;

use pplane_store::testing::TestDb;

use crate::support::{at_any_speed, drive_example_run, pplane, Home};

/// The verdict of the first item of `check all --json` whose name has `name`.
fn verdict_of(items: &serde_json::Value, name: &str) -> String {
    items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"].as_str().unwrap().contains(name))
        .map(|i| i["verdict"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no item {name:?}"))
}

#[tokio::test]
async fn the_production_gate_passes_then_fails_on_one_broken_item() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    drive_example_run(db.url());
    // The scheduled jobs, once, as a worker would have run them.
    let jobs = pplane(home.path(), Some(db.url()), &["jobs", "run"]);
    assert_eq!(jobs.code, 0, "{jobs:?}");

    // From the repository root, so that the dependency graph, the runbooks
    // and the monitoring files are checked too.
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
        "| PASS | cleanup jobs automated",
        "| PASS | the outbox is drained",
        "| PASS | runbooks documented",
        "| PASS | monitoring dashboards active: alert rules and dashboard in place |",
        "| PASS | query response time < 100 ms (p95, measured now) |",
        "| PASS | event append latency < 10 ms (p99, measured now) |",
        // Every item of both checklists, each answered.
        "## Checklist 6: production gate",
        "| PASS | CI: the schema validation runs in CI |",
        "| NOT APPLICABLE | outbox: retries back off exponentially |",
        "## Checklist 9: production-ready criteria",
        "| PASS | operational readiness: cleanup jobs automated |",
        "| PASS | performance: event append latency under target (p99) |",
        // What the gate cannot see from the database: whether Prometheus
        // scrapes, and how the worker retries.
        " 0 FAIL, 2 NOT APPLICABLE**",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }

    // Outside a checkout the graph is not applicable; a stale verification
    // fails when no new one is made.
    db.exec("UPDATE pplane_meta.backup_verifications SET verified_at = verified_at - interval '31 days'")
        .await;
    let stale = pplane(
        home.path(),
        Some(db.url()),
        &["check", "all", "--no-backup-verify", "--json"],
    );
    assert_eq!(stale.code, 1, "{stale:?}");
    let items = stale.json();
    let verdict = |name: &str| verdict_of(&items, name);
    assert_eq!(verdict("dependency graph"), "NOT APPLICABLE");
    assert_eq!(verdict("verified in the last 30 days"), "FAIL");
    assert_eq!(
        verdict("backup and restore verified within 30 days"),
        "FAIL"
    );

    // Held to latencies no server meets, both performance items fail, and
    // so do the checklist's.
    let strict = pplane(
        home.path(),
        Some(db.url()),
        &[
            "check",
            "all",
            "--no-backup-verify",
            "--query-p95-ms",
            "0.001",
            "--append-p99-ms",
            "0.001",
            "--json",
        ],
    );
    assert_eq!(strict.code, 1, "{strict:?}");
    let items = strict.json();
    let verdict = |name: &str| verdict_of(&items, name);
    for name in [
        "query response time < 0.001 ms",
        "event append latency < 0.001 ms",
        "performance: query response time under target",
        "performance: event append latency under target",
    ] {
        assert_eq!(verdict(name), "FAIL", "{name}");
    }

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
        let demo = pplane(
            home.path(),
            Some(db.url()),
            &at_any_speed(&["demo", "--runs", runs]),
        );
        assert_eq!(demo.code, 0, "--runs {runs}: {demo:?}");
        assert!(demo.stdout.contains(" 0 FAIL, "), "{}", demo.stdout);
        db.exec("ANALYZE").await;
        let again = pplane(
            home.path(),
            Some(db.url()),
            &at_any_speed(&["check", "all", "--no-backup-verify"]),
        );
        assert_eq!(again.code, 0, "--runs {runs}, after ANALYZE: {again:?}");
    }
}
