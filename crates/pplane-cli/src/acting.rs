//! Turning `--tenant/--user/--actor/--caused-by/--expect-version` and JSON
//! arguments into checked values; anything malformed is bad input (exit 2).

use std::str::FromStr;

use pplane_domain::{Actor, EventId, TenantId, UserId};
use pplane_store::operations::Origin;
use pplane_store::{Store, TenantTx};

use crate::args::Acting;
use crate::failure::Failure;
use crate::target;

pub fn id<T: FromStr>(text: &str) -> Result<T, Failure>
where
    T::Err: std::fmt::Display,
{
    text.parse::<T>().map_err(|e| Failure::Usage(e.to_string()))
}

pub fn json(field: &str, text: &str) -> Result<serde_json::Value, Failure> {
    serde_json::from_str(text).map_err(|e| Failure::Usage(format!("--{field} must be JSON: {e}")))
}

pub fn json_opt(field: &str, text: Option<&str>) -> Result<Option<serde_json::Value>, Failure> {
    text.map(|t| json(field, t)).transpose()
}

/// The parsed acting context.
pub struct Context {
    pub tenant: TenantId,
    pub user: UserId,
    pub origin: Origin,
}

impl Context {
    pub fn parse(acting: &Acting) -> Result<Context, Failure> {
        let tenant: TenantId = id(&acting.tenant)?;
        let user: UserId = id(&acting.user)?;
        let actor: Actor = match &acting.actor {
            Some(text) => id(text)?,
            None => Actor::User(user.to_string()),
        };
        let caused_by = acting.caused_by.as_deref().map(id::<EventId>).transpose()?;
        Ok(Context {
            tenant,
            user,
            origin: Origin {
                actor,
                caused_by,
                expected_version: acting.expect_version,
            },
        })
    }

    /// A unit of work in this tenant, for this principal. The transaction
    /// keeps its pooled connection alive on its own.
    pub async fn begin(&self) -> Result<TenantTx, Failure> {
        let store = target::runtime_store().await?;
        Ok(store.tenant_tx(self.tenant, self.user).await?)
    }
}

/// Who reads, for operator commands: a tenant and, unless `--user` names a
/// member, the plane's service principal (a member of every tenant).
pub struct Reader {
    pub tenant: TenantId,
    pub user: UserId,
    store: Store,
}

impl Reader {
    pub async fn parse(tenant: &str, user: Option<&str>) -> Result<Reader, Failure> {
        let tenant: TenantId = id(tenant)?;
        let user = user.map(id::<UserId>).transpose()?;
        let store = target::runtime_store().await?;
        let user = match user {
            Some(u) => u,
            None => store.delivery_principal().await?,
        };
        Ok(Reader {
            tenant,
            user,
            store,
        })
    }

    pub async fn begin(&self) -> Result<TenantTx, Failure> {
        Ok(self.store.tenant_tx(self.tenant, self.user).await?)
    }
}
