//! API keys: created by a member of a tenant for itself, listed, revoked.
//! The key's text is returned once, at creation; only a SHA-256 of its
//! secret is kept. Who may create keys is whoever may open a tenant
//! transaction as that member (the CLI); the HTTP service offers no route
//! for it.

use chrono::{DateTime, Utc};
use pplane_domain::api_key::{digests_equal, ApiKeyText};
use pplane_domain::{ApiKeyId, ApiScope};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{check_text, not_found};
use crate::repositories::api_keys::{self, api_key_insert, api_keys_of_tenant, NewApiKey};
use crate::{Result, StoreError, TenantTx};

pub use crate::repositories::api_keys::ApiKey;

/// A new key, with its text: shown only here.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The whole key, secret included.
    #[serde(rename = "key")]
    pub text: String,
}

/// A key for the transaction's principal in its tenant.
pub async fn api_key_create(
    tx: &mut TenantTx,
    name: &str,
    scope: ApiScope,
    expires_at: Option<DateTime<Utc>>,
) -> Result<CreatedKey> {
    check_text("API key name", name, 100)?;
    if expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(StoreError::InvalidInput(
            "an API key must expire in the future".into(),
        ));
    }
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let text = ApiKeyText {
        id: ApiKeyId::new(),
        tenant: tx.tenant(),
        user: tx.user(),
        secret,
    };
    let hash = Sha256::digest(secret);
    let new = NewApiKey {
        id: text.id,
        user: text.user,
        name,
        scope,
        secret_hash: &hash,
        expires_at,
    };
    let tenant = tx.tenant();
    let key = api_key_insert(tx.conn(), tenant, &new).await?;
    Ok(CreatedKey {
        key,
        text: text.to_string(),
    })
}

/// The tenant's keys, oldest first; never their secrets.
pub async fn api_key_list(tx: &mut TenantTx) -> Result<Vec<ApiKey>> {
    let tenant = tx.tenant();
    api_keys_of_tenant(tx.conn(), tenant).await
}

/// Revokes a key of the tenant: its next request is refused.
pub async fn api_key_revoke(tx: &mut TenantTx, id: ApiKeyId) -> Result<ApiKey> {
    let tenant = tx.tenant();
    api_keys::api_key_revoke(tx.conn(), tenant, id)
        .await?
        .ok_or_else(|| not_found("API key", id))
}

/// A key's own request rate: `per_s` requests a second on average, up to
/// `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyRate {
    pub per_s: f32,
    pub burst: i32,
}

/// Gives a key of the tenant its own rate (`pplane serve` charges its
/// requests to a bucket of that size and refill), or with None the
/// server's default again.
pub async fn api_key_rate_set(
    tx: &mut TenantTx,
    id: ApiKeyId,
    rate: Option<KeyRate>,
) -> Result<ApiKey> {
    if let Some(r) = rate {
        if !(r.per_s.is_finite() && r.per_s > 0.0) || r.burst < 1 {
            return Err(StoreError::InvalidInput(
                "a key's rate must be more than 0 requests a second, its burst at least 1".into(),
            ));
        }
    }
    let tenant = tx.tenant();
    api_keys::api_key_rate_set(tx.conn(), tenant, id, rate.map(|r| (r.per_s, r.burst)))
        .await?
        .ok_or_else(|| not_found("API key", id))
}

/// The key a caller presented, if it opens this tenant for this principal
/// now: the transaction must run in the key's tenant as the key's principal
/// (which the key text names). The digests are compared in constant time.
pub async fn api_key_verify(tx: &mut TenantTx, presented: &ApiKeyText) -> Result<ApiKey> {
    let refused = |reason| StoreError::ApiKeyRefused { reason };
    if (presented.tenant, presented.user) != (tx.tenant(), tx.user()) {
        return Err(refused("for another tenant or principal"));
    }
    let tenant = tx.tenant();
    let key = api_keys::api_key_fetch(tx.conn(), tenant, presented.id)
        .await?
        .filter(|k| k.user_id == presented.user)
        .ok_or(refused("unknown"))?;
    let hash = Sha256::digest(presented.secret);
    if !digests_equal(&hash, &key.secret_hash) {
        return Err(refused("unknown"));
    }
    still_open(key)
}

/// The key `id` of this transaction's principal, if it still opens the
/// tenant now (not revoked, not expired): for a console session, which
/// verified the key's secret once at sign-in and keeps only its id, so that
/// revoking the key ends the session at its next request.
pub async fn api_key_current(tx: &mut TenantTx, id: ApiKeyId) -> Result<ApiKey> {
    let refused = |reason| StoreError::ApiKeyRefused { reason };
    let tenant = tx.tenant();
    let key = api_keys::api_key_fetch(tx.conn(), tenant, id)
        .await?
        .filter(|k| k.user_id == tx.user())
        .ok_or(refused("unknown"))?;
    still_open(key)
}

/// The key, unless it was revoked or has expired.
fn still_open(key: ApiKey) -> Result<ApiKey> {
    let refused = |reason| StoreError::ApiKeyRefused { reason };
    if key.revoked_at.is_some() {
        return Err(refused("revoked"));
    }
    if key.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(refused("expired"));
    }
    Ok(key)
}
