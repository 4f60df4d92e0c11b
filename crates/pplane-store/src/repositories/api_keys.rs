//! API keys: stored as the SHA-256 of their secret, created and revoked,
//! never edited otherwise.

use chrono::{DateTime, Utc};
use pplane_domain::{ApiKeyId, ApiScope, TenantId, UserId};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Result;

/// A key as lists show it: never its secret.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiKey {
    #[sqlx(try_from = "uuid::Uuid")]
    pub id: ApiKeyId,
    /// `ppk_` and 12 hex digits of the id: names the key without opening it.
    #[sqlx(skip)]
    pub prefix: String,
    #[sqlx(try_from = "uuid::Uuid")]
    pub user_id: UserId,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub scope: ApiScope,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The key's own request rate and bucket size; None: the server's.
    pub rate_per_s: Option<f32>,
    pub burst: Option<i32>,
    /// Only for the constant-time comparison: neither serialized nor public.
    #[serde(skip)]
    pub(crate) secret_hash: Vec<u8>,
}

impl ApiKey {
    fn with_prefix(mut self) -> ApiKey {
        self.prefix = pplane_domain::api_key::ApiKeyText::visible_prefix(self.id);
        self
    }
}

const COLUMNS: &str =
    "id, user_id, name, scope, expires_at, revoked_at, created_at, rate_per_s, burst, secret_hash";

pub struct NewApiKey<'a> {
    pub id: ApiKeyId,
    pub user: UserId,
    pub name: &'a str,
    pub scope: ApiScope,
    pub secret_hash: &'a [u8],
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn api_key_insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    k: &NewApiKey<'_>,
) -> Result<ApiKey> {
    let key: ApiKey = sqlx::query_as(&format!(
        "INSERT INTO api_keys (tenant_id, id, user_id, name, scope, secret_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(k.id.as_uuid())
    .bind(k.user.as_uuid())
    .bind(k.name)
    .bind(k.scope.as_str())
    .bind(k.secret_hash)
    .bind(k.expires_at)
    .fetch_one(conn)
    .await?;
    Ok(key.with_prefix())
}

pub async fn api_key_fetch(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ApiKeyId,
) -> Result<Option<ApiKey>> {
    let key: Option<ApiKey> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?;
    Ok(key.map(ApiKey::with_prefix))
}

pub async fn api_keys_of_tenant(conn: &mut PgConnection, tenant: TenantId) -> Result<Vec<ApiKey>> {
    let keys: Vec<ApiKey> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY id"
    ))
    .bind(tenant.as_uuid())
    .fetch_all(conn)
    .await?;
    Ok(keys.into_iter().map(ApiKey::with_prefix).collect())
}

/// Revokes a key now; a key revoked before keeps its first revocation time.
pub async fn api_key_revoke(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ApiKeyId,
) -> Result<Option<ApiKey>> {
    let key: Option<ApiKey> = sqlx::query_as(&format!(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?;
    Ok(key.map(ApiKey::with_prefix))
}

/// Sets a key's own rate and bucket size, or with None gives it the
/// server's again.
pub async fn api_key_rate_set(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ApiKeyId,
    rate: Option<(f32, i32)>,
) -> Result<Option<ApiKey>> {
    let key: Option<ApiKey> = sqlx::query_as(&format!(
        "UPDATE api_keys SET rate_per_s = $3, burst = $4
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind(rate.map(|r| r.0))
    .bind(rate.map(|r| r.1))
    .fetch_optional(conn)
    .await?;
    Ok(key.map(ApiKey::with_prefix))
}
