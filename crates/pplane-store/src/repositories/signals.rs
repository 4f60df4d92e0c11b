//! Signals: inbound triggers, unique per (tenant, source_channel, source_id).

use chrono::{DateTime, Utc};
use pplane_domain::{Actor, CorrelationId, SignalId, TenantId};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Signal {
    #[sqlx(try_from = "Uuid")]
    pub id: SignalId,
    pub source_channel: String,
    pub source_id: String,
    pub payload: serde_json::Value,
    pub received_at: DateTime<Utc>,
    #[sqlx(try_from = "Uuid")]
    pub correlation_id: CorrelationId,
    #[sqlx(try_from = "String")]
    pub actor: Actor,
}

pub(crate) const COLUMNS: &str =
    "id, source_channel, source_id, payload, received_at, correlation_id, actor::text AS actor";

pub struct NewSignal<'a> {
    pub id: SignalId,
    pub channel: &'a str,
    pub source_id: &'a str,
    pub payload: &'a serde_json::Value,
    pub correlation: CorrelationId,
    pub actor: &'a Actor,
}

pub async fn signal_find_by_source(
    conn: &mut PgConnection,
    tenant: TenantId,
    channel: &str,
    source_id: &str,
) -> Result<Option<Signal>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM signals WHERE tenant_id = $1 AND source_channel = $2 AND source_id = $3"
    ))
    .bind(tenant.as_uuid())
    .bind(channel)
    .bind(source_id)
    .fetch_optional(conn)
    .await?)
}

/// Inserts a signal. A concurrent ingestion of the same source key makes
/// this fail on `signals_source_key`.
pub async fn signal_insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    s: &NewSignal<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO signals (tenant_id, id, source_channel, source_id, payload, correlation_id, causation_id, actor)
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
    )
    .bind(tenant.as_uuid())
    .bind(s.id.as_uuid())
    .bind(s.channel)
    .bind(s.source_id)
    .bind(s.payload)
    .bind(s.correlation.as_uuid())
    .bind(s.actor.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn signal_fetch(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: SignalId,
) -> Result<Option<Signal>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM signals WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?)
}

/// Whether the stored payload equals `payload` as PostgreSQL compares jsonb
/// (key order and number spelling do not matter).
pub async fn signal_payload_matches(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: SignalId,
    payload: &serde_json::Value,
) -> Result<bool> {
    let same: Option<bool> =
        sqlx::query_scalar("SELECT payload = $3 FROM signals WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .bind(payload)
            .fetch_optional(conn)
            .await?;
    Ok(same == Some(true))
}
