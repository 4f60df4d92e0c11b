//! `pplane jobs list | run | set`, and a worker that hosts the jobs: each
//! job's policy and last run as an operator reads them, a run that fails
//! recorded with its reason and exit 1, policies refused with what to do,
//! and the jobs run on a worker's ticks, not on a drain's.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pplane_store::testing::TestDb;

use crate::serve::terminate;
use crate::support::{pplane, Home};

/// The cells of `job`'s row of `jobs list`'s table (columns are two
/// spaces or more apart; a cell has at most one space inside).
fn row(table: &str, job: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("{job} ")))
        .unwrap_or_else(|| panic!("no row for {job} in\n{table}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn an_operator_lists_runs_and_sets_the_jobs() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());

    let listed = pplane(home.path(), url, &["jobs", "list"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let header = row(&listed.stdout, "job");
    assert_eq!(
        header,
        ["job", "every", "keeps", "last run", "result", "rows", "next run"]
    );
    for (job, every, keeps) in [
        ("backup-verify", "7d", "-"),
        ("checkpoint-prune", "1h", "newest 20"),
        ("outbox-purge", "1h", "7d"),
        ("projection-refresh", "5m", "-"),
    ] {
        let cells = row(&listed.stdout, job);
        assert_eq!(cells, [job, every, keeps, "never", "-", "-", "due now"]);
    }

    let ran = pplane(home.path(), url, &["jobs", "run"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    for job in [
        "outbox-purge",
        "checkpoint-prune",
        "projection-refresh",
        "backup-verify",
    ] {
        assert!(
            ran.stdout.contains(&format!("{job}: ran, ")),
            "{job}: {ran:?}"
        );
    }
    let again = pplane(home.path(), url, &["jobs", "run", "outbox-purge"]);
    assert_eq!(
        again.stdout.trim(),
        "outbox-purge: not due (see `pplane jobs list`)"
    );
    let now = pplane(
        home.path(),
        url,
        &["jobs", "run", "outbox-purge", "--now", "--json"],
    );
    assert_eq!(now.code, 0, "{now:?}");
    let run = &now.json()[0];
    assert_eq!(
        (run["outcome"].as_str(), run["run"]["result"].as_str()),
        (Some("ran"), Some("OK"))
    );
    assert_eq!(run["run"]["rows"], 0);

    let states = pplane(home.path(), url, &["jobs", "list", "--json"]).json();
    let purge = states
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["policy"]["job"] == "outbox-purge")
        .unwrap();
    assert_eq!(purge["policy"]["every_s"], 3600);
    assert_eq!(purge["policy"]["retention_s"], 7 * 86_400);
    assert_eq!(
        purge["last"]["holder"]
            .as_str()
            .map(|h| h.starts_with("pplane-jobs-run:")),
        Some(true)
    );

    // Policies: for the plane, for a tenant, and what a job cannot take.
    let set = pplane(
        home.path(),
        url,
        &[
            "jobs",
            "set",
            "outbox-purge",
            "--every",
            "2h",
            "--retention",
            "30d",
        ],
    );
    assert_eq!(set.code, 0, "{set:?}");
    assert_eq!(row(&set.stdout, "outbox-purge")[1..3], ["2h", "30d"]);
    let tenant = pplane(home.path(), url, &["tenant", "create", "acme", "--json"]).json();
    let t = tenant["tenant_id"].as_str().unwrap();
    let own = pplane(
        home.path(),
        url,
        &[
            "jobs",
            "set",
            "outbox-purge",
            "--tenant",
            t,
            "--retention",
            "365d",
        ],
    );
    assert_eq!(own.code, 0, "{own:?}");
    assert!(
        own.stdout.contains(&format!("for tenant {t}: 365d")),
        "{own:?}"
    );
    for (args, part) in [
        (
            &["jobs", "set", "outbox-purge", "--every", "30s"][..],
            "at most once a minute",
        ),
        (
            &["jobs", "set", "projection-refresh", "--retention", "1d"],
            "only its interval",
        ),
        (
            &["jobs", "set", "outbox-purge", "--keep-latest", "3"],
            "keeps by age only",
        ),
        (
            &["jobs", "set", "vacuum-everything", "--every", "1h"],
            "job must be one of",
        ),
        (
            &["jobs", "set", "outbox-purge", "--tenant", t],
            "--retention, --keep-latest or --clear",
        ),
    ] {
        let refused = pplane(home.path(), url, args);
        assert_eq!(refused.code, 2, "{args:?}: {refused:?}");
        assert!(refused.stderr.contains(part), "{part:?} in {refused:?}");
    }
    let cleared = pplane(
        home.path(),
        url,
        &["jobs", "set", "outbox-purge", "--tenant", t, "--clear"],
    );
    assert_eq!(cleared.code, 0, "{cleared:?}");
    assert!(!cleared.stdout.contains("for tenant"), "{cleared:?}");
}

#[tokio::test]
async fn a_failing_job_exits_1_and_its_reason_is_listed() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    // The projection the refresh writes is gone.
    db.exec("ALTER TABLE run_summary RENAME TO run_summary_moved")
        .await;
    let ran = pplane(home.path(), url, &["jobs", "run", "projection-refresh"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stdout.contains("projection-refresh: FAILED: "),
        "{ran:?}"
    );
    let listed = pplane(home.path(), url, &["jobs", "list"]);
    assert_eq!(row(&listed.stdout, "projection-refresh")[4], "FAILED");
    assert!(
        listed.stdout.contains("projection-refresh last failed: "),
        "{listed:?}"
    );
    // A failed run counts as its interval's (no retry storm): once fixed,
    // an operator runs it now.
    db.exec("ALTER TABLE run_summary_moved RENAME TO run_summary")
        .await;
    let again = pplane(
        home.path(),
        url,
        &["jobs", "run", "projection-refresh", "--now"],
    );
    assert_eq!(again.code, 0, "{again:?}");
}

fn worker(url: &str, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_pplane"))
        .arg("worker")
        .args(extra)
        .env("DATABASE_URL", url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_worker_hosts_the_jobs_on_its_ticks_and_a_drain_does_not() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = db.url();
    let runs = "SELECT count(*) FROM pplane_meta.job_runs";

    let drain = pplane(home.path(), Some(url), &["worker", "--until-idle"]);
    assert_eq!(drain.code, 0, "{drain:?}");
    let mut quiet = worker(url, &["--no-jobs", "--jobs-tick-ms", "100"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    terminate(&quiet);
    assert!(quiet.wait().unwrap().success());
    assert_eq!(
        db.scalar(runs).await,
        0,
        "neither a drain nor --no-jobs runs them"
    );

    // Two workers: each job runs once between them.
    let mut hosts = [
        worker(url, &["--jobs-tick-ms", "100"]),
        worker(url, &["--jobs-tick-ms", "100"]),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let ok = "SELECT count(*) FROM pplane_meta.job_runs WHERE result = 'OK'";
    while db.scalar(ok).await < 4 {
        assert!(Instant::now() < deadline, "the jobs ran within a minute");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for host in &hosts {
        terminate(host);
    }
    for host in &mut hosts {
        assert!(host.wait().unwrap().success());
    }
    assert_eq!(db.scalar(runs).await, 4, "once each, whoever took it");
    assert_eq!(
        db.scalar("SELECT count(DISTINCT job) FROM pplane_meta.job_runs")
            .await,
        4
    );
}
