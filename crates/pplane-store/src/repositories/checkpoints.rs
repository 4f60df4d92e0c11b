//! Checkpoints: what a resume needs. Each save is a new row; the latest wins.

use chrono::{DateTime, Utc};
use pplane_domain::{Actor, CheckpointId, CorrelationId, EventId, RunId, TenantId};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Checkpoint {
    #[sqlx(try_from = "Uuid")]
    pub id: CheckpointId,
    #[sqlx(try_from = "Uuid")]
    pub run_id: RunId,
    pub last_step_index: Option<i32>,
    /// The position of this checkpoint's CHECKPOINT_SAVED event: a resume
    /// replays the run's events after it.
    pub event_sequence: i64,
    pub state: serde_json::Value,
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Uuid")]
    pub correlation_id: CorrelationId,
}

pub struct NewCheckpoint<'a> {
    pub id: CheckpointId,
    pub run: RunId,
    pub last_step_index: Option<i32>,
    pub event_sequence: i64,
    pub state: &'a serde_json::Value,
    pub correlation: CorrelationId,
    pub causation: EventId,
    pub actor: &'a Actor,
}

const COLUMNS: &str =
    "id, run_id, last_step_index, event_sequence, state, created_at, correlation_id";

pub async fn checkpoint_insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    c: &NewCheckpoint<'_>,
) -> Result<Checkpoint> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO run_checkpoints (tenant_id, id, run_id, last_step_index, event_sequence, state,
                                      correlation_id, causation_id, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING {COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(c.id.as_uuid())
    .bind(c.run.as_uuid())
    .bind(c.last_step_index)
    .bind(c.event_sequence)
    .bind(c.state)
    .bind(c.correlation.as_uuid())
    .bind(c.causation.as_uuid())
    .bind(c.actor.to_string())
    .fetch_one(conn)
    .await?)
}

/// The run's latest checkpoint, if it has one.
pub async fn checkpoint_latest(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: RunId,
) -> Result<Option<Checkpoint>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM run_checkpoints WHERE tenant_id = $1 AND run_id = $2
         ORDER BY event_sequence DESC LIMIT 1"
    ))
    .bind(tenant.as_uuid())
    .bind(run.as_uuid())
    .fetch_optional(conn)
    .await?)
}

/// The run's checkpoints before position `before` (all when `None`), newest
/// first, at most `limit`.
pub async fn checkpoints_before(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: RunId,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Checkpoint>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM run_checkpoints
         WHERE tenant_id = $1 AND run_id = $2 AND ($3::bigint IS NULL OR event_sequence < $3)
         ORDER BY event_sequence DESC LIMIT $4"
    ))
    .bind(tenant.as_uuid())
    .bind(run.as_uuid())
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
