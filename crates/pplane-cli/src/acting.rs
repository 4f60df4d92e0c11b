//! Turning `--tenant/--user/--actor/--caused-by/--expect-version` and JSON
//! arguments into checked values; anything malformed is bad input (exit 2).

use std::str::FromStr;

use pplane_domain::{Actor, EventId, TenantId, UserId};
use pplane_store::operations::Origin;
use pplane_store::{Store, TenantTx};

use crate::args::{Acting, Member};
use crate::failure::Failure;
use crate::target;

pub fn id<T: FromStr>(text: &str) -> Result<T, Failure>
where
    T::Err: std::fmt::Display,
{
    text.parse::<T>().map_err(|e| Failure::Usage(e.to_string()))
}

/// The most a JSON argument may read from a file or stdin: well above the
/// largest payload the store accepts (1 MiB), so the store's own limit is
/// the one a caller meets, and still bounded.
const JSON_ARGUMENT_MAX: u64 = 8 * 1024 * 1024;

/// A JSON argument: the text itself, `@FILE` to read it from a file, or `-`
/// to read it from stdin. Payloads past ~128 KiB cannot be passed as one
/// argument at all (the operating system's limit), hence the other two.
pub fn json(field: &str, text: &str) -> Result<serde_json::Value, Failure> {
    let source = if text == "-" {
        read_bounded(field, std::io::stdin().lock(), "stdin")?
    } else if let Some(path) = text.strip_prefix('@') {
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::Usage(format!("--{field} @{path}: {e}")))?;
        read_bounded(field, file, path)?
    } else {
        text.to_owned()
    };
    serde_json::from_str(&source)
        .map_err(|e| Failure::Usage(format!("--{field} must be JSON: {e}")))
}

fn read_bounded(field: &str, from: impl std::io::Read, name: &str) -> Result<String, Failure> {
    use std::io::Read;
    let mut text = String::new();
    from.take(JSON_ARGUMENT_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| Failure::Usage(format!("--{field}: cannot read {name}: {e}")))?;
    if text.len() as u64 > JSON_ARGUMENT_MAX {
        return Err(Failure::Usage(format!(
            "--{field}: {name} is over {} MiB",
            JSON_ARGUMENT_MAX / 1024 / 1024
        )));
    }
    Ok(text)
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
        let Context { tenant, user, .. } = Context::member(&acting.member)?;
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

    /// A member acting as itself (actor `user:<user>`), with no cause or
    /// expected version: for commands that change no run.
    pub fn member(member: &Member) -> Result<Context, Failure> {
        let tenant: TenantId = id(&member.tenant)?;
        let user: UserId = id(&member.user)?;
        Ok(Context {
            tenant,
            user,
            origin: Origin::by(Actor::User(user.to_string())),
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
