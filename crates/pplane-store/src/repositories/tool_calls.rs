//! Tool calls made by steps.

use chrono::{DateTime, Utc};
use pplane_domain::{
    Actor, CorrelationId, EventId, RunId, StepId, TenantId, ToolCallId, ToolCallStatus,
};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{qualified, stamp_when, MaybeId, StatusChange};
use crate::Result;

#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolCall {
    #[sqlx(try_from = "Uuid")]
    pub id: ToolCallId,
    #[sqlx(try_from = "Uuid")]
    pub step_id: StepId,
    pub tool_name: String,
    pub tool_args: serde_json::Value,
    pub result: Option<serde_json::Value>,
    #[sqlx(try_from = "String")]
    pub status: ToolCallStatus,
    pub version: i32,
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
    "id, step_id, tool_name, tool_args, result, status, version, error_details, \
     started_at, finished_at, correlation_id, causation_id, actor::text AS actor";

pub struct NewToolCall<'a> {
    pub id: ToolCallId,
    pub step: StepId,
    pub tool_name: &'a str,
    pub tool_args: &'a serde_json::Value,
    pub correlation: CorrelationId,
    pub causation: EventId,
    pub actor: &'a Actor,
}

/// Inserts a tool call that has started (status RUNNING, version 1).
pub async fn tool_call_insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    t: &NewToolCall<'_>,
) -> Result<ToolCall> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO tool_calls (tenant_id, id, step_id, tool_name, tool_args, status, started_at,
                                 correlation_id, causation_id, actor)
         VALUES ($1, $2, $3, $4, $5, 'RUNNING', now(), $6, $7, $8)
         RETURNING {COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(t.id.as_uuid())
    .bind(t.step.as_uuid())
    .bind(t.tool_name)
    .bind(t.tool_args)
    .bind(t.correlation.as_uuid())
    .bind(t.causation.as_uuid())
    .bind(t.actor.to_string())
    .fetch_one(conn)
    .await?)
}

pub async fn tool_call_fetch(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ToolCallId,
) -> Result<Option<ToolCall>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tool_calls WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?)
}

/// The tool calls under a run that have not ended (PENDING or RUNNING).
pub async fn tool_calls_live_of_run(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: RunId,
) -> Result<Vec<ToolCall>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {} FROM tool_calls t
         JOIN steps s ON s.tenant_id = t.tenant_id AND s.id = t.step_id
         WHERE t.tenant_id = $1 AND s.run_id = $2 AND t.status IN ('PENDING', 'RUNNING')
         ORDER BY t.id",
        qualified(COLUMNS, "t")
    ))
    .bind(tenant.as_uuid())
    .bind(run.as_uuid())
    .fetch_all(conn)
    .await?)
}

pub async fn tool_call_update_status(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ToolCallId,
    change: &StatusChange<'_>,
) -> Result<Option<ToolCall>> {
    let finished_at = stamp_when(
        ["COMPLETED", "FAILED", "CANCELLED"].contains(&change.status),
        "finished_at",
    );
    Ok(sqlx::query_as(&format!(
        "UPDATE tool_calls SET status = $4, version = version + 1,
                finished_at = {finished_at},
                result = coalesce($5, result), error_details = coalesce($6, error_details),
                causation_id = $7, actor = $8
         WHERE tenant_id = $1 AND id = $2 AND version = $3
         RETURNING {COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind(change.expected_version)
    .bind(change.status)
    .bind(change.output)
    .bind(change.error)
    .bind(change.causation.as_uuid())
    .bind(change.actor.to_string())
    .fetch_optional(conn)
    .await?)
}
