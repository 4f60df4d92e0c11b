//! Runs: one execution of an agent workflow, versioned for optimistic concurrency.

use chrono::{DateTime, Utc};
use pplane_domain::{Actor, CorrelationId, EventId, RunId, RunStatus, SignalId, StepId, TenantId};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{qualified, stamp_when, MaybeId, StatusChange};
use crate::Result;

#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    #[sqlx(try_from = "Uuid")]
    pub id: RunId,
    #[sqlx(try_from = "Uuid")]
    pub signal_id: SignalId,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    pub version: i32,
    pub domain_refs: serde_json::Value,
    pub error_details: Option<serde_json::Value>,
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
    "id, signal_id, status, version, domain_refs, error_details, started_at, finished_at, \
     correlation_id, causation_id, actor::text AS actor";

pub struct NewRun<'a> {
    pub id: RunId,
    pub signal: SignalId,
    pub domain_refs: &'a serde_json::Value,
    pub correlation: CorrelationId,
    pub causation: EventId,
    pub actor: &'a Actor,
}

pub async fn run_insert(conn: &mut PgConnection, tenant: TenantId, r: &NewRun<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO runs (tenant_id, id, signal_id, domain_refs, correlation_id, causation_id, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant.as_uuid())
    .bind(r.id.as_uuid())
    .bind(r.signal.as_uuid())
    .bind(r.domain_refs)
    .bind(r.correlation.as_uuid())
    .bind(r.causation.as_uuid())
    .bind(r.actor.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn run_fetch(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: RunId,
) -> Result<Option<Run>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM runs WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?)
}

/// How a change holds the run it works under until it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunLock {
    /// A change under the run (a step's move, a tool call, a checkpoint, an
    /// effect): many may share it, and the run cannot end meanwhile.
    Share,
    /// The run's own end, and appending a step, which must see every step
    /// before it: one at a time, after every shared holder has committed.
    Exclusive,
}

impl RunLock {
    fn clause(self) -> &'static str {
        match self {
            RunLock::Share => "FOR SHARE",
            RunLock::Exclusive => "FOR UPDATE",
        }
    }
}

/// The run, locked as `lock` says until the transaction ends.
pub async fn run_fetch_locked(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: RunId,
    lock: RunLock,
) -> Result<Option<Run>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM runs WHERE tenant_id = $1 AND id = $2 {}",
        lock.clause()
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?)
}

/// The run a step belongs to, locked as `lock` says until the transaction ends.
pub async fn run_of_step_locked(
    conn: &mut PgConnection,
    tenant: TenantId,
    step: StepId,
    lock: RunLock,
) -> Result<Option<Run>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {} FROM runs r JOIN steps s ON s.tenant_id = r.tenant_id AND s.run_id = r.id
         WHERE s.tenant_id = $1 AND s.id = $2 {} OF r",
        qualified(COLUMNS, "r"),
        lock.clause()
    ))
    .bind(tenant.as_uuid())
    .bind(step.as_uuid())
    .fetch_optional(conn)
    .await?)
}

/// The run a signal started.
pub async fn run_of_signal(
    conn: &mut PgConnection,
    tenant: TenantId,
    signal: SignalId,
) -> Result<Option<Run>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM runs WHERE tenant_id = $1 AND signal_id = $2 ORDER BY id LIMIT 1"
    ))
    .bind(tenant.as_uuid())
    .bind(signal.as_uuid())
    .fetch_optional(conn)
    .await?)
}

/// Moves a run as `change` says, if it is still at the expected version;
/// returns the changed run, or None if another writer moved it first.
/// Timestamps follow the status.
pub async fn run_update_status(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: RunId,
    change: &StatusChange<'_>,
) -> Result<Option<Run>> {
    let started_at = stamp_when(change.status == "RUNNING", "started_at");
    let finished_at = stamp_when(
        ["COMPLETED", "FAILED", "CANCELLED"].contains(&change.status),
        "finished_at",
    );
    Ok(sqlx::query_as(&format!(
        "UPDATE runs SET status = $4, version = version + 1,
                started_at = {started_at}, finished_at = {finished_at},
                error_details = coalesce($5, error_details), causation_id = $6, actor = $7
         WHERE tenant_id = $1 AND id = $2 AND version = $3
         RETURNING {COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind(change.expected_version)
    .bind(change.status)
    .bind(change.error)
    .bind(change.causation.as_uuid())
    .bind(change.actor.to_string())
    .fetch_optional(conn)
    .await?)
}
