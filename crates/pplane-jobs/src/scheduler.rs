//! Taking turns at the jobs: on each tick, every job that is due is run by
//! whichever process takes its lease first; the others find it held (it is
//! running elsewhere) or, once it has run, not due.

use std::time::Duration;

use pplane_domain::Job;
use pplane_store::jobs::{JobLease, JobRun};
use pplane_store::Store;
use serde::Serialize;
use tokio::sync::watch;

use crate::work::job_work;
use crate::JobsError;

/// How a process hosts the jobs.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Who runs them, as each run records it (a worker's id).
    pub holder: String,
    /// How often the process looks for due jobs; its first look is one
    /// tick after it starts, so that a process started for a moment (a
    /// test, a drain) does not begin a backup on its way.
    pub tick: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            holder: format!("pplane-{}", std::process::id()),
            tick: Duration::from_secs(60),
        }
    }
}

/// What one look at a job found.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Ran {
    /// It ran here; the run as recorded.
    Ran { run: JobRun },
    /// Its last run started less than an interval ago, or it is disabled.
    NotDue { job: Job },
    /// Another process holds its lease: it is running there.
    Held { job: Job },
}

/// The jobs of one plane, run from this process.
#[derive(Debug, Clone)]
pub struct Jobs {
    store: Store,
    url: String,
    config: JobsConfig,
}

impl Jobs {
    /// `url` is the login's: the leases and the run history are the
    /// plane's, and the refresh and the backup read every tenant.
    pub fn new(store: Store, url: String, config: JobsConfig) -> Jobs {
        Jobs { store, url, config }
    }

    /// Looks at `job` once: runs it if it is due (or at once with `now`)
    /// and nobody else is running it.
    pub async fn run_job(&self, job: Job, now: bool) -> Result<Ran, JobsError> {
        let Some(mut lease) = JobLease::take(&self.url, job, &self.config.holder).await? else {
            return Ok(Ran::Held { job });
        };
        let Some(start) = lease.run_start(now).await? else {
            lease.release().await?;
            return Ok(Ran::NotDue { job });
        };
        if start.lost > 0 {
            tracing::warn!(job = %job, lost = start.lost, "a run's holder lost its lease; closed as FAILED");
        }
        let outcome = job_work(&self.store, &self.url, &start).await;
        if let Err(error) = &outcome {
            tracing::warn!(job = %job, %error, "job failed");
        }
        let run = lease.run_finish(start.run, outcome).await?;
        lease.release().await?;
        Ok(Ran::Ran { run })
    }

    /// Looks at every job once (or only at `only`), in turn.
    pub async fn run_once(&self, only: Option<Job>, now: bool) -> Result<Vec<Ran>, JobsError> {
        let mut ran = Vec::new();
        for job in Job::ALL
            .iter()
            .copied()
            .filter(|j| only.is_none_or(|o| o == *j))
        {
            ran.push(self.run_job(job, now).await?);
        }
        Ok(ran)
    }

    /// Looks at every job on each tick until `shutdown` says stop. A job
    /// running when the stop comes finishes first (a purge is a chunk away
    /// from its end; a backup's proof, minutes at most). A look that cannot
    /// reach the database is logged and tried again on the next tick.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            for job in Job::ALL.iter().copied() {
                if *shutdown.borrow() {
                    return;
                }
                if let Err(error) = self.run_job(job, false).await {
                    tracing::warn!(job = %job, %error, "could not look at the job");
                }
            }
        }
    }
}
