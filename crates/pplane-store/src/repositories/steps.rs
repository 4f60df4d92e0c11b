//! Steps of a run, ordered by step_index; retried in place.

use chrono::{DateTime, Utc};
use pplane_domain::{Actor, CorrelationId, EventId, RunId, StepId, StepStatus, TenantId};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{stamp_when, MaybeId, StatusChange};
use crate::Result;

#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Step {
    #[sqlx(try_from = "Uuid")]
    pub id: StepId,
    #[sqlx(try_from = "Uuid")]
    pub run_id: RunId,
    pub step_index: i32,
    pub step_type: String,
    #[sqlx(try_from = "String")]
    pub status: StepStatus,
    pub version: i32,
    pub input: Option<serde_json::Value>,
    pub output_result: Option<serde_json::Value>,
    pub error_details: Option<serde_json::Value>,
    pub retry_count: i32,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Uuid")]
    pub correlation_id: CorrelationId,
    /// The event that last changed it: what its next event follows.
    #[sqlx(try_from = "MaybeId")]
    pub causation_id: Option<EventId>,
    #[sqlx(try_from = "String")]
    pub actor: Actor,
}

pub(crate) const COLUMNS: &str =
    "id, run_id, step_index, step_type, status, version, input, output_result, error_details, \
     retry_count, next_retry_at, started_at, finished_at, correlation_id, causation_id, actor::text AS actor";

pub struct NewStep<'a> {
    pub id: StepId,
    pub run: RunId,
    pub step_index: i32,
    pub step_type: &'a str,
    pub input: Option<&'a serde_json::Value>,
    pub correlation: CorrelationId,
    pub causation: EventId,
    pub actor: &'a Actor,
}

/// Inserts a step; a taken position fails on `steps_run_index_key`.
pub async fn step_insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    s: &NewStep<'_>,
) -> Result<Step> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO steps (tenant_id, id, run_id, step_index, step_type, input, correlation_id, causation_id, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING {COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(s.id.as_uuid())
    .bind(s.run.as_uuid())
    .bind(s.step_index)
    .bind(s.step_type)
    .bind(s.input)
    .bind(s.correlation.as_uuid())
    .bind(s.causation.as_uuid())
    .bind(s.actor.to_string())
    .fetch_one(conn)
    .await?)
}

pub async fn step_fetch(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: StepId,
) -> Result<Option<Step>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM steps WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?)
}

/// The steps of a run in order (debugging procedure, step 3).
pub async fn steps_of_run(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: RunId,
) -> Result<Vec<Step>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM steps WHERE tenant_id = $1 AND run_id = $2 ORDER BY step_index"
    ))
    .bind(tenant.as_uuid())
    .bind(run.as_uuid())
    .fetch_all(conn)
    .await?)
}

/// The run's steps that have not ended (PENDING or RUNNING).
pub async fn steps_live_of_run(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: RunId,
) -> Result<Vec<Step>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM steps WHERE tenant_id = $1 AND run_id = $2
           AND status IN ('PENDING', 'RUNNING') ORDER BY step_index"
    ))
    .bind(tenant.as_uuid())
    .bind(run.as_uuid())
    .fetch_all(conn)
    .await?)
}

/// The position after the run's last step.
pub async fn step_next_index(conn: &mut PgConnection, tenant: TenantId, run: RunId) -> Result<i32> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(max(step_index) + 1, 0) FROM steps WHERE tenant_id = $1 AND run_id = $2",
    )
    .bind(tenant.as_uuid())
    .bind(run.as_uuid())
    .fetch_one(conn)
    .await?)
}

/// Moves a step as `change` says, if still at the expected version. A move
/// back to PENDING is a retry: it counts in retry_count and sets next_retry_at.
/// Returns the changed step, or None if another writer moved it first.
pub async fn step_update_status(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: StepId,
    change: &StatusChange<'_>,
) -> Result<Option<Step>> {
    let started_at = stamp_when(change.status == "RUNNING", "started_at");
    let finished_at = match change.status {
        "PENDING" => "NULL",
        s => stamp_when(
            ["COMPLETED", "FAILED", "SKIPPED", "CANCELLED"].contains(&s),
            "finished_at",
        ),
    };
    Ok(sqlx::query_as(&format!(
        "UPDATE steps SET status = $4, version = version + 1,
                started_at = {started_at}, finished_at = {finished_at},
                output_result = coalesce($5, output_result),
                error_details = coalesce($6, error_details),
                retry_count = retry_count + CASE WHEN $4 = 'PENDING' THEN 1 ELSE 0 END,
                next_retry_at = $7, causation_id = $8, actor = $9
         WHERE tenant_id = $1 AND id = $2 AND version = $3
         RETURNING {COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind(change.expected_version)
    .bind(change.status)
    .bind(change.output)
    .bind(change.error)
    .bind(change.next_retry_at)
    .bind(change.causation.as_uuid())
    .bind(change.actor.to_string())
    .fetch_optional(conn)
    .await?)
}
