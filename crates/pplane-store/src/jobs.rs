//! The plane's scheduled operations (docs/jobs.md), as the store keeps them:
//! each job's policy for the plane and per tenant, the lease that lets one
//! process at a time run a job, and the history of runs (migration 22).
//!
//! The lease is a session-level advisory lock on a connection of its own:
//! held while the job runs, released when the holder ends it or when its
//! session ends, so a crashed holder's lease expires with its connection
//! and a job that overruns its interval is not started a second time. Under
//! the lease a run starts only if the job is due (its last run started a
//! whole interval ago), so several processes run each job once an interval.
//! What a job does is the caller's: the jobs crate calls the operations.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pplane_domain::{Job, JobResult, TenantId};
use serde::{Serialize, Serializer};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Row};
use uuid::Uuid;

use crate::{Admin, Result, StoreError};

/// The shortest interval a job may have (the migration's CHECK says so too).
pub const EVERY_MIN: Duration = Duration::from_secs(60);

/// Runs older than this are deleted when a job records its end.
pub const HISTORY_KEPT: Duration = Duration::from_secs(90 * 86_400);

/// The error of a run whose holder lost its lease before it recorded an
/// end. Such a run does not make the job wait an interval: the next holder
/// runs it as soon as it is free.
pub const LOST: &str = "the holder lost its lease before it recorded an end \
                        (it stopped, or its connection was lost)";

/// The first key of every job's advisory lock: "ppln", so that no other
/// user of advisory locks in the database collides with it by chance.
const LOCK_SPACE: i32 = 0x7070_6c6e;

/// A job's policy for the whole plane.
#[derive(Debug, Clone, Serialize)]
pub struct JobPolicy {
    pub job: Job,
    /// From the start of one run to the start of the next.
    #[serde(rename = "every_s", serialize_with = "seconds")]
    pub every: Duration,
    pub enabled: bool,
    /// The purge: delivered entries older than this go; the prune:
    /// checkpoints last written longer ago than this go.
    #[serde(rename = "retention_s", serialize_with = "seconds_or_null")]
    pub retention: Option<Duration>,
    /// The prune: the newest this many checkpoints of each thread stay.
    pub keep_latest: Option<u32>,
    pub updated_at: DateTime<Utc>,
}

/// A tenant's own retention for the purge or the prune.
#[derive(Debug, Clone, Serialize)]
pub struct TenantPolicy {
    pub job: Job,
    pub tenant_id: TenantId,
    #[serde(rename = "retention_s", serialize_with = "seconds_or_null")]
    pub retention: Option<Duration>,
    pub keep_latest: Option<u32>,
}

/// One run of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobRun {
    pub id: Uuid,
    pub job: Job,
    /// The process that ran it (`pplane worker`'s id, `jobs run`, ...).
    pub holder: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What it changed: entries purged, checkpoints pruned, projection
    /// rows written, events verified in the restored backup.
    pub rows: Option<i64>,
    pub result: JobResult,
    pub error: Option<String>,
}

/// A job as `pplane jobs list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobState {
    pub policy: JobPolicy,
    pub tenants: Vec<TenantPolicy>,
    pub last: Option<JobRun>,
    /// When it is due next: a whole interval after its last start, or now
    /// if it never ran. None while it is disabled.
    pub next_at: Option<DateTime<Utc>>,
}

/// A change of a plane-wide policy; None leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PolicyChange {
    pub every: Option<Duration>,
    pub enabled: Option<bool>,
    /// Some(None) clears it.
    pub retention: Option<Option<Duration>>,
    pub keep_latest: Option<Option<u32>>,
}

fn seconds<S: Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

fn seconds_or_null<S: Serializer>(
    d: &Option<Duration>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(d.as_secs()),
        None => s.serialize_none(),
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn duration(secs: Option<f64>) -> Option<Duration> {
    secs.map(|s| Duration::from_secs_f64(s.max(0.0)))
}

fn job_of(text: &str) -> Result<Job> {
    Job::from_str(text).map_err(|e| StoreError::Internal(e.to_string()))
}

fn keep_of(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

const POLICY: &str = "SELECT job, extract(epoch FROM every)::float8 AS every, enabled,
                             extract(epoch FROM retention)::float8 AS retention, keep_latest,
                             updated_at
                      FROM pplane_meta.job_policies";

fn policy_from(row: &sqlx::postgres::PgRow) -> Result<JobPolicy> {
    Ok(JobPolicy {
        job: job_of(row.try_get("job")?)?,
        every: duration(row.try_get("every")?).unwrap_or(EVERY_MIN),
        enabled: row.try_get("enabled")?,
        retention: duration(row.try_get("retention")?),
        keep_latest: keep_of(row.try_get("keep_latest")?),
        updated_at: row.try_get("updated_at")?,
    })
}

const RUN: &str = "SELECT id, job, holder, started_at, finished_at, rows, result, error
                   FROM pplane_meta.job_runs";

fn run_from(row: &sqlx::postgres::PgRow) -> Result<JobRun> {
    let result: String = row.try_get("result")?;
    Ok(JobRun {
        id: row.try_get("id")?,
        job: job_of(row.try_get("job")?)?,
        holder: row.try_get("holder")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        rows: row.try_get("rows")?,
        result: JobResult::from_str(&result).map_err(|e| StoreError::Internal(e.to_string()))?,
        error: row.try_get("error")?,
    })
}

/// The policy of `job`.
pub async fn job_policy(admin: &mut Admin, job: Job) -> Result<JobPolicy> {
    policy_read(admin.conn(), job).await
}

async fn policy_read(conn: &mut PgConnection, job: Job) -> Result<JobPolicy> {
    let row = sqlx::query(&format!("{POLICY} WHERE job = $1"))
        .bind(job.as_str())
        .fetch_one(conn)
        .await?;
    policy_from(&row)
}

/// Every job with its policies, its last run and when it is due next.
pub async fn job_states(admin: &mut Admin) -> Result<Vec<JobState>> {
    let policies = sqlx::query(&format!("{POLICY} ORDER BY job"))
        .fetch_all(admin.conn())
        .await?;
    let mut states = Vec::with_capacity(policies.len());
    for row in &policies {
        let policy = policy_from(row)?;
        let tenants = job_tenant_policies(admin, policy.job).await?;
        let last = job_runs(admin, policy.job, 1).await?.pop();
        let next_at = policy.enabled.then(|| match &last {
            Some(run) => {
                run.started_at + chrono::Duration::from_std(policy.every).unwrap_or_default()
            }
            None => Utc::now(),
        });
        states.push(JobState {
            policy,
            tenants,
            last,
            next_at,
        });
    }
    Ok(states)
}

/// The newest `limit` runs of `job`, newest first.
pub async fn job_runs(admin: &mut Admin, job: Job, limit: i64) -> Result<Vec<JobRun>> {
    let rows = sqlx::query(&format!(
        "{RUN} WHERE job = $1 ORDER BY started_at DESC LIMIT $2"
    ))
    .bind(job.as_str())
    .bind(limit)
    .fetch_all(admin.conn())
    .await?;
    rows.iter().map(run_from).collect()
}

/// The tenants with a policy of their own for `job`.
pub async fn job_tenant_policies(admin: &mut Admin, job: Job) -> Result<Vec<TenantPolicy>> {
    tenant_policies(admin.conn(), job).await
}

async fn tenant_policies(conn: &mut PgConnection, job: Job) -> Result<Vec<TenantPolicy>> {
    let rows = sqlx::query(
        "SELECT tenant_id, extract(epoch FROM retention)::float8 AS retention, keep_latest
         FROM pplane_meta.job_tenant_policies WHERE job = $1 ORDER BY tenant_id",
    )
    .bind(job.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TenantPolicy {
                job,
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id")?),
                retention: duration(row.try_get("retention")?),
                keep_latest: keep_of(row.try_get("keep_latest")?),
            })
        })
        .collect()
}

/// What `job`'s settings may be: the purge keeps by age, the prune by age
/// or count, the others have neither.
fn settings_check(job: Job, retention: Option<Duration>, keep_latest: Option<u32>) -> Result<()> {
    let bad = |why: String| Err(StoreError::InvalidInput(why));
    match job {
        Job::OutboxPurge if retention.is_none() => {
            bad("the outbox purge needs a retention (delivered entries older than it go)".into())
        }
        Job::OutboxPurge if keep_latest.is_some() => {
            bad("the outbox purge keeps by age only: give a retention, not --keep-latest".into())
        }
        Job::CheckpointPrune if retention.is_none() && keep_latest.is_none() => bad(
            "the checkpoint prune needs a retention, a number of checkpoints to keep, or both"
                .into(),
        ),
        Job::ProjectionRefresh | Job::BackupVerify
            if retention.is_some() || keep_latest.is_some() =>
        {
            bad(format!("{job} has no retention to set; only its interval"))
        }
        _ if retention.is_some_and(|r| r.is_zero()) => bad("a retention must be positive".into()),
        _ if keep_latest == Some(0) => {
            bad("keep at least the newest checkpoint (1 or more)".into())
        }
        _ => Ok(()),
    }
}

/// Changes `job`'s policy for the whole plane; the policy as it is now.
pub async fn job_policy_set(
    admin: &mut Admin,
    job: Job,
    change: &PolicyChange,
) -> Result<JobPolicy> {
    let mut policy = job_policy(admin, job).await?;
    if let Some(every) = change.every {
        if every < EVERY_MIN {
            return Err(StoreError::InvalidInput(format!(
                "a job runs at most once a minute; {}s is too often",
                every.as_secs()
            )));
        }
        policy.every = every;
    }
    if let Some(enabled) = change.enabled {
        policy.enabled = enabled;
    }
    if let Some(retention) = change.retention {
        policy.retention = retention;
    }
    if let Some(keep) = change.keep_latest {
        policy.keep_latest = keep;
    }
    settings_check(job, policy.retention, policy.keep_latest)?;
    policy.updated_at = sqlx::query_scalar(
        "UPDATE pplane_meta.job_policies
         SET every = make_interval(secs => $2), enabled = $3,
             retention = make_interval(secs => $4), keep_latest = $5, updated_at = now()
         WHERE job = $1 RETURNING updated_at",
    )
    .bind(job.as_str())
    .bind(secs(policy.every))
    .bind(policy.enabled)
    .bind(policy.retention.map(secs))
    .bind(policy.keep_latest.map(|n| n as i32))
    .fetch_one(admin.conn())
    .await?;
    Ok(policy)
}

/// Gives `tenant` its own retention for `job` (the purge or the prune), or
/// with both None takes it back to the plane's.
pub async fn job_tenant_policy_set(
    admin: &mut Admin,
    job: Job,
    tenant: TenantId,
    retention: Option<Duration>,
    keep_latest: Option<u32>,
) -> Result<()> {
    if !matches!(job, Job::OutboxPurge | Job::CheckpointPrune) {
        return Err(StoreError::InvalidInput(format!(
            "{job} has no per-tenant policy; only the purge and the prune do"
        )));
    }
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1)")
            .bind(tenant.as_uuid())
            .fetch_one(admin.conn())
            .await?;
    if !exists {
        return Err(StoreError::NotFound {
            entity: "tenant",
            id: tenant.to_string(),
        });
    }
    if retention.is_none() && keep_latest.is_none() {
        sqlx::query(
            "DELETE FROM pplane_meta.job_tenant_policies WHERE job = $1 AND tenant_id = $2",
        )
        .bind(job.as_str())
        .bind(tenant.as_uuid())
        .execute(admin.conn())
        .await?;
        return Ok(());
    }
    settings_check(job, retention, keep_latest)?;
    sqlx::query(
        "INSERT INTO pplane_meta.job_tenant_policies (job, tenant_id, retention, keep_latest)
         VALUES ($1, $2, make_interval(secs => $3), $4)
         ON CONFLICT (job, tenant_id) DO UPDATE
         SET retention = excluded.retention, keep_latest = excluded.keep_latest,
             updated_at = now()",
    )
    .bind(job.as_str())
    .bind(tenant.as_uuid())
    .bind(retention.map(secs))
    .bind(keep_latest.map(|n| n as i32))
    .execute(admin.conn())
    .await?;
    Ok(())
}

/// The right to run one job: its advisory lock, held by a session of its
/// own until [`JobLease::release`] or until that session ends.
#[derive(Debug)]
pub struct JobLease {
    conn: PgConnection,
    job: Job,
    holder: String,
}

/// A run begun under a lease.
#[derive(Debug, Clone)]
pub struct JobStart {
    pub run: Uuid,
    pub policy: JobPolicy,
    pub tenants: Vec<TenantPolicy>,
    /// Runs whose holder lost the lease before recording their end, closed
    /// as FAILED now.
    pub lost: u64,
}

impl JobLease {
    /// Takes `job`'s lease for `holder`, or None if another session holds
    /// it (that job is running elsewhere).
    pub async fn take(url: &str, job: Job, holder: &str) -> Result<Option<JobLease>> {
        let options = PgConnectOptions::from_str(url)?.application_name("pplane-jobs");
        let mut conn = options.connect().await?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LOCK_SPACE)
            .bind(lock_key(job))
            .fetch_one(&mut conn)
            .await?;
        if !taken {
            conn.close().await?;
            return Ok(None);
        }
        Ok(Some(JobLease {
            conn,
            job,
            holder: holder.to_owned(),
        }))
    }

    /// Begins a run if the job is enabled and due (no run started within an
    /// interval, a lost one aside), or at once with `now`; None otherwise.
    /// Runs left RUNNING are closed as FAILED ([`LOST`]) first: under the
    /// lease, no other holder is alive to end them.
    pub async fn run_start(&mut self, now: bool) -> Result<Option<JobStart>> {
        let lost = sqlx::query(
            "UPDATE pplane_meta.job_runs SET result = 'FAILED', finished_at = now(), error = $2
             WHERE job = $1 AND result = 'RUNNING'",
        )
        .bind(self.job.as_str())
        .bind(LOST)
        .execute(&mut self.conn)
        .await?
        .rows_affected();
        let policy = policy_read(&mut self.conn, self.job).await?;
        let due: bool = sqlx::query_scalar(
            "SELECT NOT EXISTS (SELECT 1 FROM pplane_meta.job_runs
                                WHERE job = $1 AND started_at > now() - make_interval(secs => $2)
                                  AND error IS DISTINCT FROM $3)",
        )
        .bind(self.job.as_str())
        .bind(secs(policy.every))
        .bind(LOST)
        .fetch_one(&mut self.conn)
        .await?;
        let runs = now || (policy.enabled && due);
        if !runs {
            return Ok(None);
        }
        let run = Uuid::now_v7();
        sqlx::query("INSERT INTO pplane_meta.job_runs (id, job, holder) VALUES ($1, $2, $3)")
            .bind(run)
            .bind(self.job.as_str())
            .bind(&self.holder)
            .execute(&mut self.conn)
            .await?;
        let tenants = tenant_policies(&mut self.conn, self.job).await?;
        Ok(Some(JobStart {
            run,
            policy,
            tenants,
            lost,
        }))
    }

    /// Records how run `run` ended: the rows it changed, or its error; and
    /// deletes the job's runs older than [`HISTORY_KEPT`].
    pub async fn run_finish(
        &mut self,
        run: Uuid,
        outcome: std::result::Result<i64, String>,
    ) -> Result<JobRun> {
        let (result, rows, error) = match outcome {
            Ok(rows) => (JobResult::Ok, Some(rows), None),
            Err(error) => (JobResult::Failed, None, Some(error)),
        };
        let row = sqlx::query(
            "UPDATE pplane_meta.job_runs
             SET finished_at = clock_timestamp(), result = $2, rows = $3, error = $4
             WHERE id = $1
             RETURNING id, job, holder, started_at, finished_at, rows, result, error",
        )
        .bind(run)
        .bind(result.as_str())
        .bind(rows)
        .bind(error)
        .fetch_one(&mut self.conn)
        .await?;
        sqlx::query(
            "DELETE FROM pplane_meta.job_runs
             WHERE job = $1 AND started_at < now() - make_interval(secs => $2)",
        )
        .bind(self.job.as_str())
        .bind(secs(HISTORY_KEPT))
        .execute(&mut self.conn)
        .await?;
        run_from(&row)
    }

    /// Gives the lease back (ending its session would too).
    pub async fn release(mut self) -> Result<()> {
        sqlx::query("SELECT pg_advisory_unlock($1, $2)")
            .bind(LOCK_SPACE)
            .bind(lock_key(self.job))
            .execute(&mut self.conn)
            .await?;
        self.conn.close().await?;
        Ok(())
    }
}

/// The second key of `job`'s advisory lock: its place in [`Job::ALL`].
fn lock_key(job: Job) -> i32 {
    Job::ALL.iter().position(|j| *j == job).unwrap_or(0) as i32
}
