//! Effects and their outbox entries, always written together.

use chrono::{DateTime, Utc};
use pplane_domain::{
    Actor, CorrelationId, DestinationId, EffectId, EventId, OutboxId, RunId, StepId, TenantId,
};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::StatusChange;
use crate::Result;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Effect {
    pub id: Uuid,
    pub run_id: Uuid,
    pub step_id: Option<Uuid>,
    pub effect_type: String,
    pub effect_spec: serde_json::Value,
    pub idempotency_key: String,
    pub status: String,
    pub version: i32,
    pub execution_result: Option<serde_json::Value>,
    pub retry_count: i32,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub correlation_id: Uuid,
    pub actor: String,
}

const COLUMNS: &str =
    "id, run_id, step_id, effect_type, effect_spec, idempotency_key, status, version, \
     execution_result, retry_count, next_retry_at, correlation_id, actor::text AS actor";

pub struct NewEffect<'a> {
    pub id: EffectId,
    pub outbox_id: OutboxId,
    pub run: RunId,
    pub step: Option<StepId>,
    pub effect_type: &'a str,
    /// Carries `idempotency_key`, as the schema requires.
    pub spec: &'a serde_json::Value,
    pub key: &'a str,
    pub correlation: CorrelationId,
    pub causation: EventId,
    pub actor: &'a Actor,
    /// Where the outbox delivers it.
    pub destination: Option<DestinationId>,
}

pub async fn effect_find_by_key(
    conn: &mut PgConnection,
    tenant: TenantId,
    key: &str,
) -> Result<Option<Effect>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM effects WHERE tenant_id = $1 AND idempotency_key = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(key)
    .fetch_optional(conn)
    .await?)
}

pub async fn effect_fetch(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: EffectId,
) -> Result<Option<Effect>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM effects WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?)
}

/// Inserts the effect and its outbox entry in one statement and returns the
/// effect: there is never an effect without its delivery, nor a delivery
/// without its effect.
pub async fn effect_insert_with_outbox(
    conn: &mut PgConnection,
    tenant: TenantId,
    e: &NewEffect<'_>,
) -> Result<Effect> {
    Ok(sqlx::query_as(&format!(
        "WITH effect AS (
             INSERT INTO effects (tenant_id, id, run_id, step_id, effect_type, effect_spec, idempotency_key,
                                  correlation_id, causation_id, actor)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             RETURNING {COLUMNS}),
         outbox AS (
             INSERT INTO outbox_events (tenant_id, id, event_type, aggregate_type, aggregate_id, payload,
                                        idempotency_key, correlation_id, causation_id, actor,
                                        destination_id)
             SELECT $1, $11, $5, 'EFFECT', effect.id, $6, $7, $8, $9, $10, $12 FROM effect)
         SELECT * FROM effect"
    ))
    .bind(tenant.as_uuid())
    .bind(e.id.as_uuid())
    .bind(e.run.as_uuid())
    .bind(e.step.map(|s| s.as_uuid()))
    .bind(e.effect_type)
    .bind(e.spec)
    .bind(e.key)
    .bind(e.correlation.as_uuid())
    .bind(e.causation.as_uuid())
    .bind(e.actor.to_string())
    .bind(e.outbox_id.as_uuid())
    .bind(e.destination.map(|d| d.as_uuid()))
    .fetch_one(conn)
    .await?)
}

/// Whether a stored effect is the same request: same run, type and spec, the
/// spec compared as PostgreSQL compares jsonb (key order and number spelling
/// do not matter), as signal payloads are.
pub async fn effect_same_request(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: EffectId,
    run: RunId,
    effect_type: &str,
    spec: &serde_json::Value,
) -> Result<bool> {
    let same: Option<bool> = sqlx::query_scalar(
        "SELECT run_id = $3 AND effect_type = $4 AND effect_spec = $5
         FROM effects WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind(run.as_uuid())
    .bind(effect_type)
    .bind(spec)
    .fetch_optional(conn)
    .await?;
    Ok(same == Some(true))
}

/// Moves an effect as `change` says, if still at the expected version. A
/// failed attempt (FAILED) counts in retry_count and carries next_retry_at;
/// a requeue (back to PENDING) resets both. `output` is the execution
/// result. Returns the changed effect, or None if another writer moved it.
pub async fn effect_update_status(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: EffectId,
    change: &StatusChange<'_>,
) -> Result<Option<Effect>> {
    Ok(sqlx::query_as(&format!(
        "UPDATE effects SET status = $4, version = version + 1,
                execution_result = coalesce($5, execution_result),
                retry_count = CASE WHEN $4 = 'FAILED' THEN retry_count + 1
                                   WHEN $4 = 'PENDING' THEN 0 ELSE retry_count END,
                next_retry_at = $6, causation_id = $7, actor = $8
         WHERE tenant_id = $1 AND id = $2 AND version = $3
         RETURNING {COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind(change.expected_version)
    .bind(change.status)
    .bind(change.output.or(change.error))
    .bind(change.next_retry_at)
    .bind(change.causation.as_uuid())
    .bind(change.actor.to_string())
    .fetch_optional(conn)
    .await?)
}
