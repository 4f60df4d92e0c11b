//! The API key check that opens each request's transaction. The key names
//! its tenant and principal; the transaction is opened as that member, the
//! key's row is read there (row-level security shows no other tenant's), its
//! digest compared in constant time, its revocation and expiry checked. The
//! handler then works in that same transaction and commits it.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use pplane_domain::api_key::ApiKeyText;
use pplane_domain::{ApiScope, UserId};
use pplane_store::operations::api_keys::{api_key_verify, ApiKey};
use pplane_store::{Store, StoreError, TenantTx};

use crate::limits::Limiter;
use crate::problem::{Kind, Problem};

/// What every handler reaches: the store, the console's sessions, and the
/// request rate limits.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub console: Arc<crate::console::Sessions>,
    pub limits: Arc<Limiter>,
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Store {
        state.store.clone()
    }
}

impl FromRef<AppState> for Arc<Limiter> {
    fn from_ref(state: &AppState) -> Arc<Limiter> {
        state.limits.clone()
    }
}

/// An authenticated request: its key and the transaction it works in.
pub struct Session {
    pub key: ApiKey,
    pub tx: TenantTx,
}

impl Session {
    /// The principal the key acts as.
    pub fn user(&self) -> UserId {
        self.key.user_id
    }

    /// Refuses (403) a key whose scope is below `needed`.
    pub fn require(&self, needed: ApiScope) -> Result<(), Problem> {
        if self.key.scope >= needed {
            Ok(())
        } else {
            Err(Problem::new(
                Kind::Forbidden,
                format!(
                    "this key's scope is {}; this needs {needed}",
                    self.key.scope
                ),
            ))
        }
    }

    pub async fn commit(self) -> Result<(), Problem> {
        Ok(self.tx.commit().await?)
    }
}

impl<S> FromRequestParts<S> for Session
where
    S: Send + Sync,
    Store: FromRef<S>,
    Arc<Limiter>: FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Session, Problem> {
        let presented = bearer_key(&parts.headers)
            .map_err(|detail| Problem::new(Kind::Unauthorized, detail))?;
        let store = Store::from_ref(state);
        let limits = Arc::<Limiter>::from_ref(state);
        let mut tx = store.tenant_tx(presented.tenant, presented.user).await?;
        match api_key_verify(&mut tx, &presented).await {
            Ok(key) => {
                // Known from now on: the limiter charges its next requests
                // without asking the database (limits.rs).
                limits.learn(&key, &presented);
                Ok(Session { key, tx })
            }
            Err(refused) => {
                if matches!(refused, StoreError::ApiKeyRefused { .. }) {
                    limits.forget(&presented);
                }
                Err(refused.into())
            }
        }
    }
}

/// The API key a request presents as `Authorization: Bearer <key>`, or why
/// it presents none: what the session verifies and the rate limiter
/// charges.
pub(crate) fn bearer_key(headers: &HeaderMap) -> Result<ApiKeyText, &'static str> {
    headers
        .get(AUTHORIZATION)
        .ok_or("send the API key as Authorization: Bearer <key>")?
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .and_then(|k| k.trim().parse().ok())
        .ok_or("the Authorization header is not Bearer <API key>")
}
