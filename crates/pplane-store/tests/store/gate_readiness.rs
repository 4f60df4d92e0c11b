//! The production gate's operational items: each scheduled job must have
//! succeeded within two of its intervals, each runbook the index names must
//! exist, each alert must name a runbook that exists and the dashboard must
//! have panels; each is broken here to see it FAIL with what to fix.

use std::path::Path;

use pplane_domain::Job;
use pplane_store::checks::gate::{readiness_items, GateItem, Verdict};
use pplane_store::jobs::JobLease;
use pplane_store::testing::TestDb;

async fn item(db: &TestDb, workspace: Option<&Path>, name: &str) -> GateItem {
    let mut admin = db.admin().await;
    let items = readiness_items(&mut admin, workspace).await.unwrap();
    items
        .into_iter()
        .find(|i| i.item.starts_with(name))
        .unwrap_or_else(|| panic!("no item {name:?}"))
}

/// Each job run once, now, and recorded OK, as a host of the jobs does.
async fn every_job_ran(db: &TestDb) {
    for job in Job::ALL {
        let mut lease = JobLease::take(db.url(), *job, "spec")
            .await
            .unwrap()
            .expect("free");
        let start = lease.run_start(true).await.unwrap().expect("asked now");
        lease.run_finish(start.run, Ok(0)).await.unwrap();
        lease.release().await.unwrap();
    }
}

#[tokio::test]
async fn the_jobs_item_passes_only_while_every_job_keeps_succeeding() {
    let db = TestDb::migrated().await;
    let jobs = "cleanup jobs automated";
    let never = item(&db, None, jobs).await;
    assert_eq!(never.verdict, Verdict::Fail);
    assert!(
        never.evidence.contains("backup-verify never succeeded"),
        "{never:?}"
    );
    assert!(
        never.evidence.contains("pplane jobs run"),
        "what to do: {never:?}"
    );

    every_job_ran(&db).await;
    let fine = item(&db, None, jobs).await;
    assert_eq!(fine.verdict, Verdict::Pass, "{fine:?}");
    assert!(fine.evidence.contains("outbox-purge every 1h"), "{fine:?}");

    // An hourly job whose last success is three hours old is late.
    db.exec("UPDATE pplane_meta.job_runs SET started_at = now() - interval '3 hours' WHERE job = 'outbox-purge'")
        .await;
    let late = item(&db, None, jobs).await;
    assert_eq!(late.verdict, Verdict::Fail);
    assert!(
        late.evidence
            .contains("outbox-purge last succeeded 3.0h ago, late after 2h"),
        "{late:?}"
    );
    // A failure since then is named too.
    db.exec(
        "INSERT INTO pplane_meta.job_runs (id, job, holder, finished_at, result, error)
             VALUES (gen_random_uuid(), 'outbox-purge', 'spec', now(), 'FAILED', 'disk full')",
    )
    .await;
    let failing = item(&db, None, jobs).await;
    assert!(
        failing
            .evidence
            .contains("its last run failed: \"disk full\""),
        "{failing:?}"
    );

    every_job_ran(&db).await;
    db.exec("UPDATE pplane_meta.job_policies SET enabled = false WHERE job = 'projection-refresh'")
        .await;
    let off = item(&db, None, jobs).await;
    assert_eq!(off.verdict, Verdict::Fail);
    assert!(
        off.evidence.contains("projection-refresh is disabled"),
        "{off:?}"
    );
}

#[tokio::test]
async fn the_outbox_item_fails_when_a_due_entry_waits_five_minutes() {
    let db = TestDb::migrated().await;
    let drained = "the outbox is drained";
    assert_eq!(item(&db, None, drained).await.verdict, Verdict::Pass);
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    db.seed_each_table(tenant, user).await;
    db.exec(
        "UPDATE outbox_events SET status = 'PENDING', available_at = now() - interval '6 minutes'",
    )
    .await;
    let stalled = item(&db, None, drained).await;
    assert_eq!(stalled.verdict, Verdict::Fail, "{stalled:?}");
    assert!(
        stalled.evidence.contains("1 due, the oldest has waited 6m"),
        "{stalled:?}"
    );
}

/// A checkout with the runbooks' index and the monitoring files, copied
/// from this repository's.
fn workspace() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    for sub in ["docs/runbooks", "deploy/prometheus", "deploy/grafana"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for file in std::fs::read_dir(root.join(sub)).unwrap() {
            let file = file.unwrap();
            std::fs::copy(file.path(), dir.path().join(sub).join(file.file_name())).unwrap();
        }
    }
    dir
}

#[tokio::test]
async fn the_runbooks_item_fails_when_a_named_runbook_is_missing() {
    let db = TestDb::migrated().await;
    let runbooks = "runbooks documented";
    assert_eq!(
        item(&db, None, runbooks).await.verdict,
        Verdict::NotApplicable
    );
    let dir = workspace();
    let fine = item(&db, Some(dir.path()), runbooks).await;
    assert_eq!(fine.verdict, Verdict::Pass, "{fine:?}");
    assert!(fine.evidence.contains("a-job-keeps-failing.md"), "{fine:?}");

    std::fs::remove_file(dir.path().join("docs/runbooks/trace-a-run.md")).unwrap();
    let missing = item(&db, Some(dir.path()), runbooks).await;
    assert_eq!(missing.verdict, Verdict::Fail);
    assert_eq!(
        missing.evidence,
        "named but missing or without a title: trace-a-run.md"
    );
}

#[tokio::test]
async fn the_monitoring_item_fails_on_an_alert_without_its_runbook_or_a_broken_dashboard() {
    let db = TestDb::migrated().await;
    let files = "monitoring dashboards active: alert rules";
    let dir = workspace();
    let fine = item(&db, Some(dir.path()), files).await;
    assert_eq!(fine.verdict, Verdict::Pass, "{fine:?}");
    // Whether Prometheus scrapes is not the database's to know.
    let scraped = item(
        &db,
        Some(dir.path()),
        "monitoring dashboards active: /metrics",
    )
    .await;
    assert_eq!(scraped.verdict, Verdict::NotApplicable);

    std::fs::remove_file(dir.path().join("docs/runbooks/a-job-keeps-failing.md")).unwrap();
    let orphan = item(&db, Some(dir.path()), files).await;
    assert_eq!(orphan.verdict, Verdict::Fail);
    assert!(
        orphan
            .evidence
            .contains("names runbook docs/runbooks/a-job-keeps-failing.md, which does not exist"),
        "{orphan:?}"
    );
    let dir = workspace();
    std::fs::write(
        dir.path().join("deploy/grafana/pplane.json"),
        "{\"panels\": []}",
    )
    .unwrap();
    let empty = item(&db, Some(dir.path()), files).await;
    assert_eq!(empty.verdict, Verdict::Fail);
    assert!(empty.evidence.contains("has no panel"), "{empty:?}");
}
