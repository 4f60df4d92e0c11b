//! Checkpoints: what a resume needs. Each save is a new row; the latest
//! wins. Retention drops the state of superseded ones and keeps the row
//! (migration 23).

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
    /// The agent's state; null once retention pruned it (`pruned_at`).
    pub state: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Uuid")]
    pub correlation_id: CorrelationId,
    /// When retention dropped the state; its CHECKPOINT_DELETED says why.
    pub pruned_at: Option<DateTime<Utc>>,
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
    "id, run_id, last_step_index, event_sequence, state, created_at, correlation_id, pruned_at";

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

/// Which run checkpoints a prune takes, in one tenant. Never a run's newest
/// (a resume loads it), never a LangGraph thread's (their documents are
/// pruned by thread, and their state is only a pointer to one), never one
/// pruned already.
#[derive(Debug, Clone, Copy)]
pub enum Prunable {
    /// Beyond the newest `keep` of each run; at most `limit`.
    Beyond { keep: i64, limit: i64 },
    /// Saved before `time`; at most `limit`, the oldest first.
    Before { time: DateTime<Utc>, limit: i64 },
}

/// A pruned checkpoint, with the event that saved it and its correlation.
#[derive(Debug, Clone)]
pub struct PrunedCheckpoint {
    pub id: CheckpointId,
    pub run_id: RunId,
    pub saved_event: Option<EventId>,
    pub correlation: CorrelationId,
}

/// Drops the state of the prunable checkpoints and stamps `pruned_at`. The
/// UPDATE checks `pruned_at IS NULL` again on the row it locks, so two
/// prunes at once never prune (and record) one checkpoint twice.
pub async fn checkpoint_states_drop(
    conn: &mut PgConnection,
    tenant: TenantId,
    prunable: Prunable,
) -> Result<Vec<PrunedCheckpoint>> {
    let (keep, time, limit) = match prunable {
        Prunable::Beyond { keep, limit } => (Some(keep), None, limit),
        Prunable::Before { time, limit } => (None, Some(time), limit),
    };
    let rows: Vec<(Uuid, Uuid, Option<Uuid>, Uuid)> = sqlx::query_as(
        "WITH ranked AS (
             SELECT c.id, c.created_at,
                    row_number() OVER (PARTITION BY c.run_id ORDER BY c.event_sequence DESC) AS newest
             FROM run_checkpoints c
             WHERE c.tenant_id = $1 AND c.pruned_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM langgraph_threads t
                               WHERE t.tenant_id = c.tenant_id AND t.id = c.run_id)),
         doomed AS (
             SELECT r.id FROM ranked r
             WHERE r.newest > 1
               AND ($2::bigint IS NULL OR r.newest > $2)
               AND ($3::timestamptz IS NULL OR r.created_at < $3)
             ORDER BY r.created_at LIMIT $4)
         UPDATE run_checkpoints c
         SET state = NULL, pruned_at = now(), updated_at = now()
         FROM doomed d
         WHERE c.tenant_id = $1 AND c.id = d.id AND c.pruned_at IS NULL
         RETURNING c.id, c.run_id, c.causation_id, c.correlation_id",
    )
    .bind(tenant.as_uuid())
    .bind(keep)
    .bind(time)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    let mut pruned: Vec<PrunedCheckpoint> = rows
        .into_iter()
        .map(|(id, run, saved, correlation)| PrunedCheckpoint {
            id: CheckpointId::from_uuid(id),
            run_id: RunId::from_uuid(run),
            saved_event: saved.map(EventId::from_uuid),
            correlation: CorrelationId::from_uuid(correlation),
        })
        .collect();
    // RETURNING has no order; the events follow the checkpoints' own.
    pruned.sort_by_key(|p| p.id.as_uuid());
    Ok(pruned)
}
