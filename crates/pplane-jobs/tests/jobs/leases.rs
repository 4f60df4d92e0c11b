//! One process at a time runs a job, once an interval, whoever looks; a
//! holder that dies loses its lease with its connection, and its run is
//! closed as FAILED by the next holder, which runs the job at once.

use pplane_domain::{Job, JobResult};
use pplane_jobs::Ran;
use pplane_store::jobs::{job_runs, JobLease, LOST};
use pplane_store::testing::TestDb;
use tokio::sync::watch;

use crate::support::jobs;

#[tokio::test]
async fn a_due_job_runs_once_an_interval_whoever_looks() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (a, b) = (jobs(&db, &store, "a"), jobs(&db, &store, "b"));

    let first = a.run_job(Job::ProjectionRefresh, false).await.unwrap();
    let Ran::Ran { run } = first else {
        panic!("never run, so due: {first:?}")
    };
    assert_eq!((run.result, run.holder.as_str()), (JobResult::Ok, "a"));
    assert!(run.finished_at.unwrap() >= run.started_at);
    // Within its interval (5 minutes by default) nobody runs it again…
    for j in [&a, &b] {
        let again = j.run_job(Job::ProjectionRefresh, false).await.unwrap();
        assert!(matches!(again, Ran::NotDue { .. }), "{again:?}");
    }
    // …unless asked to now.
    let now = b.run_job(Job::ProjectionRefresh, true).await.unwrap();
    assert!(
        matches!(now, Ran::Ran { ref run } if run.holder == "b"),
        "{now:?}"
    );

    let mut admin = db.admin().await;
    let runs = job_runs(&mut admin, Job::ProjectionRefresh, 10)
        .await
        .unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].holder, "b", "newest first");
    // A once-over of every job runs each that is due.
    let all = a.run_once(None, false).await.unwrap();
    let ran: Vec<Job> = all
        .iter()
        .filter_map(|r| match r {
            Ran::Ran { run } => Some(run.job),
            _ => None,
        })
        .collect();
    assert_eq!(
        ran,
        vec![Job::OutboxPurge, Job::CheckpointPrune, Job::BackupVerify],
        "{all:?}"
    );
}

#[tokio::test]
async fn a_job_running_elsewhere_is_not_started_twice() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    // Another process holds the lease and is in the middle of a run that
    // has overrun its interval.
    let mut lease = JobLease::take(db.url(), Job::ProjectionRefresh, "slow")
        .await
        .unwrap()
        .expect("free");
    let start = lease.run_start(true).await.unwrap().expect("asked now");
    let b = jobs(&db, &store, "b");
    for now in [false, true] {
        let tried = b.run_job(Job::ProjectionRefresh, now).await.unwrap();
        assert!(matches!(tried, Ran::Held { .. }), "{tried:?}");
    }
    assert!(JobLease::take(db.url(), Job::ProjectionRefresh, "c")
        .await
        .unwrap()
        .is_none());
    // Other jobs are leased apart.
    let other = b.run_job(Job::OutboxPurge, false).await.unwrap();
    assert!(matches!(other, Ran::Ran { .. }), "{other:?}");

    let run = lease.run_finish(start.run, Ok(7)).await.unwrap();
    assert_eq!((run.result, run.rows), (JobResult::Ok, Some(7)));
    lease.release().await.unwrap();
    let after = b.run_job(Job::ProjectionRefresh, false).await.unwrap();
    assert!(matches!(after, Ran::NotDue { .. }), "it ran: {after:?}");
}

#[tokio::test]
async fn a_dead_holders_lease_expires_with_its_connection() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let mut lease = JobLease::take(db.url(), Job::OutboxPurge, "doomed")
        .await
        .unwrap()
        .expect("free");
    lease.run_start(false).await.unwrap().expect("due");
    // The holder's process dies: its session ends.
    let ended = db
        .scalar(&format!(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
             WHERE datname = '{}' AND application_name = 'pplane-jobs'",
            db.name()
        ))
        .await;
    assert_eq!(ended, 1);
    drop(lease);

    let b = jobs(&db, &store, "b");
    let ran = b.run_job(Job::OutboxPurge, false).await.unwrap();
    let Ran::Ran { run } = ran else {
        panic!("a lost run does not make the job wait an interval: {ran:?}")
    };
    assert_eq!(run.result, JobResult::Ok);
    let mut admin = db.admin().await;
    let runs = job_runs(&mut admin, Job::OutboxPurge, 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].holder, "doomed");
    assert_eq!(runs[1].result, JobResult::Failed);
    assert_eq!(runs[1].error.as_deref(), Some(LOST));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_runs_every_due_job_on_its_ticks_until_stopped() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let host = jobs(&db, &store, "host");
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(async move { host.run(shutdown).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let finished = "SELECT count(DISTINCT job) FROM pplane_meta.job_runs WHERE result = 'OK'";
    while db.scalar(finished).await < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "every job ran in a minute"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap();
    // Each ran once: ticks kept coming, but none was due again.
    assert_eq!(
        db.scalar("SELECT count(*) FROM pplane_meta.job_runs").await,
        4
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM pplane_meta.backup_verifications")
            .await,
        1,
        "the backup proof is the gate's"
    );
}
