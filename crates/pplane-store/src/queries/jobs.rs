//! The scheduled jobs' health, as the dispatcher reads it for /metrics:
//! each job's interval, whether it runs on its schedule, when it last
//! succeeded and how its last run ended. The plane's schedule, no tenant's
//! data (migration 22 grants the dispatcher these two tables only).

use chrono::{DateTime, Utc};
use pplane_domain::{Job, JobResult};
use serde::Serialize;
use sqlx::{PgConnection, Row};

use crate::{DispatchTx, Result, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct JobHealth {
    pub job: Job,
    pub every_s: f64,
    pub enabled: bool,
    /// The start of its newest OK run.
    pub last_success: Option<DateTime<Utc>>,
    /// How its newest finished run ended, and its error if it failed.
    pub last_result: Option<JobResult>,
    pub last_error: Option<String>,
}

pub async fn job_health(dispatch: &mut DispatchTx) -> Result<Vec<JobHealth>> {
    health(dispatch.conn()).await
}

/// The same read on any connection that may see the two tables (the
/// production gate's, as the login).
pub(crate) async fn health(conn: &mut PgConnection) -> Result<Vec<JobHealth>> {
    let rows = sqlx::query(
        "SELECT p.job, extract(epoch FROM p.every)::float8 AS every_s, p.enabled,
                (SELECT max(r.started_at) FROM pplane_meta.job_runs r
                 WHERE r.job = p.job AND r.result = 'OK') AS last_success,
                last.result AS last_result, last.error AS last_error
         FROM pplane_meta.job_policies p
         LEFT JOIN LATERAL (SELECT r.result, r.error FROM pplane_meta.job_runs r
                            WHERE r.job = p.job AND r.result <> 'RUNNING'
                            ORDER BY r.started_at DESC LIMIT 1) last ON true
         ORDER BY p.job",
    )
    .fetch_all(conn)
    .await?;
    let parse = |text: &str| -> Result<Job> {
        text.parse()
            .map_err(|e: pplane_domain::StatusParseError| StoreError::Internal(e.to_string()))
    };
    rows.iter()
        .map(|row| {
            let result: Option<String> = row.try_get("last_result")?;
            Ok(JobHealth {
                job: parse(row.try_get("job")?)?,
                every_s: row.try_get("every_s")?,
                enabled: row.try_get("enabled")?,
                last_success: row.try_get("last_success")?,
                last_error: row.try_get("last_error")?,
                last_result: result
                    .map(|r| r.parse::<JobResult>())
                    .transpose()
                    .map_err(|e| StoreError::Internal(e.to_string()))?,
            })
        })
        .collect()
}
