//! The runtime's handle on the database, and the guard that makes it refuse
//! to work in an unsafe setup.
//!
//! One URL serves everything. Runtime work always runs as `pplane_app`: either
//! the login *is* `pplane_app`, or the login is a member of it and every
//! transaction begins with `SET LOCAL ROLE pplane_app` (the PostgREST
//! "authenticator" pattern). Before it hands out a single transaction,
//! [`Store::connect`] checks, as that effective role, that it is not a
//! superuser, has no BYPASSRLS, owns nothing, that every table has row-level
//! security enabled and forced, and that the schema is exactly the one this
//! binary was built for.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pplane_domain::{TenantId, UserId};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::appender::{Appender, Target};
use crate::context::{Context, Profile};
use crate::migrations::{schema_verify, MigrationError, MigrationSet};
use crate::repositories::events::NewEvent;
use crate::unit_of_work::{DispatchTx, OwnerTx, TenantTx};
use crate::{Result, StoreError};

pub const APP_ROLE: &str = "pplane_app";
pub const OWNER_ROLE: &str = "pplane_owner";
pub const DISPATCHER_ROLE: &str = "pplane_dispatcher";

/// Who we logged in as.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Login {
    pub user: String,
    pub superuser: bool,
    /// True when transactions switch to `pplane_app` with SET LOCAL ROLE.
    pub switches_role: bool,
}

/// A connection used this recently is taken as alive without a ping.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The settings of every pool the store opens, and of every baseline a
/// benchmark measures against it. By default sqlx pings a connection on
/// every acquire: a whole round trip before each unit of work, doubling the
/// round trips of a short one. A connection that finished a statement
/// moments ago is alive; one that sat idle may have been cut (a restarted
/// server, an idle timeout on the way), so only those are pinged, and a dead
/// one is dropped and replaced before anyone sees it.
pub(crate) fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    login: Login,
    profile: Profile,
    /// Started on the first grouped append; shared by every clone.
    appender: Arc<OnceLock<Appender>>,
}

#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 10,
        }
    }
}

impl Store {
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store> {
        let connect = PgConnectOptions::from_str(url)?.application_name("pplane");
        let profile = {
            let mut conn = PgConnection::connect_with(&connect).await?;
            let profile = Profile::detect(&mut conn).await?;
            conn.close().await?;
            profile
        };
        // Every statement the store prepares finds its rows by tenant and key
        // through an index, whatever the values; left to choose, PostgreSQL
        // plans the row-level-secured ones afresh on every execution (their
        // generic plan's estimate never beats the custom one), which took a
        // sixth of the server's time under `pplane bench api`. Citus cannot
        // plan some of them generically (a parameter that reaches a policy's
        // SQL function: "could not create distributed plan"), and plans each
        // distributed statement per execution anyway.
        let connect = match profile {
            Profile::SingleNode => connect.options([("plan_cache_mode", "force_generic_plan")]),
            Profile::Citus => connect,
        };
        let pool = pool_options()
            .max_connections(options.max_connections)
            .connect_with(connect)
            .await?;
        let login = login_of(&pool).await?;
        let store = Store {
            pool,
            login,
            profile,
            appender: Arc::new(OnceLock::new()),
        };
        store.guard().await?;
        Ok(store)
    }

    pub fn login(&self) -> &Login {
        &self.login
    }

    /// One server, or a Citus coordinator.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A unit of work in `tenant` on behalf of `user`: a transaction running
    /// as `pplane_app` with the tenant context set, so row-level security
    /// shows only that tenant's rows, and only if `user` is a member of it.
    pub async fn tenant_tx(&self, tenant: TenantId, user: UserId) -> Result<TenantTx> {
        // BEGIN, the context and the membership check travel as one simple
        // query (two on Citus: crate::context). A non-member gets NotMember
        // here rather than an empty tenant.
        let context = Context {
            role: self.login.switches_role.then_some(APP_ROLE),
            tenant: Some(tenant),
            user: Some(user),
        };
        TenantTx::begin(&self.pool, self.profile, &context, tenant, user).await
    }

    /// A transaction acting as `pplane_owner` in `tenant`: tenant and
    /// membership administration, which the runtime role may not do.
    pub async fn owner_tx(&self, tenant: TenantId) -> Result<OwnerTx> {
        if !self.can_act_as(OWNER_ROLE).await? {
            return Err(StoreError::RoleUnavailable {
                login: self.login.user.clone(),
                role: OWNER_ROLE,
                hint: "tenant administration needs the login that ran `pplane migrate up` \
                       (or another member of pplane_owner)",
            });
        }
        let context = Context {
            role: Some(OWNER_ROLE),
            tenant: Some(tenant),
            user: None,
        };
        OwnerTx::begin(&self.pool, self.profile, &context).await
    }

    /// A transaction as `pplane_dispatcher`, for the outbox worker's claims
    /// and for retention.
    pub async fn dispatch_tx(&self) -> Result<DispatchTx> {
        let context = Context {
            role: Some(DISPATCHER_ROLE),
            ..Context::default()
        };
        DispatchTx::begin(&self.pool, self.profile, &context).await
    }

    /// The delivery principal: the service account, a member of every
    /// tenant, that the outbox worker records outcomes as (migration 7).
    pub async fn delivery_principal(&self) -> Result<UserId> {
        let id: Uuid = sqlx::query_scalar("SELECT delivery_principal FROM pplane_meta.plane")
            .fetch_one(&self.pool)
            .await?;
        Ok(UserId::from_uuid(id))
    }

    /// Refuses to dispatch unless this login may act as the dispatcher and
    /// the dispatcher cannot bypass row-level security.
    pub async fn dispatcher_guard(&self) -> Result<()> {
        if !self.can_act_as(DISPATCHER_ROLE).await? {
            return Err(StoreError::RoleUnavailable {
                login: self.login.user.clone(),
                role: DISPATCHER_ROLE,
                hint: "GRANT pplane_dispatcher TO this login (migrations grant it to the \
                       migrating login and to pplane_app)",
            });
        }
        let problems = role_problems(&self.pool, DISPATCHER_ROLE).await?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::UnsafeRuntime(problems))
        }
    }

    /// Appends events outside any other change, grouped with other callers'
    /// appends into shared commits (see [`crate::appender`]). Returns their
    /// sequence numbers. For events that belong to a state change, append in
    /// that change's [`TenantTx`] instead.
    pub async fn events_append(
        &self,
        tenant: TenantId,
        user: UserId,
        events: Vec<NewEvent>,
    ) -> Result<Vec<i64>> {
        let appender = self.appender.get_or_init(|| {
            Appender::start(Target {
                pool: self.pool.clone(),
                profile: self.profile,
                role: (self.login.switches_role).then(|| self.profile.role_statement(APP_ROLE)),
            })
        });
        appender.append(tenant, user, events).await
    }

    /// Whether the plane can serve: the database answers and its schema is
    /// the one this binary needs (for a readiness probe).
    pub async fn ready(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        schema_verify(&mut conn, &MigrationSet::embedded()).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn role_switch(&self) -> String {
        if self.login.switches_role {
            format!("{}; ", self.profile.role_statement(APP_ROLE))
        } else {
            String::new()
        }
    }

    async fn can_act_as(&self, role: &str) -> Result<bool> {
        Ok(
            sqlx::query_scalar("SELECT pg_has_role(session_user, $1, 'MEMBER')")
                .bind(role)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Refuses to work unless the schema is current and the effective runtime
    /// role cannot bypass row-level security.
    async fn guard(&self) -> Result<()> {
        let mut tx = self
            .pool
            .begin_with(format!("BEGIN; {}", self.role_switch()))
            .await?;
        schema_verify(&mut tx, &MigrationSet::embedded()).await?;

        let unprotected: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
               AND NOT (c.relrowsecurity AND c.relforcerowsecurity) ORDER BY 1",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;

        // Runtime work always runs as pplane_app: the login is it, or
        // switches to it.
        let mut problems = role_problems(&self.pool, APP_ROLE).await?;
        if !unprotected.is_empty() {
            problems.push(format!(
                "row-level security is not enabled and forced on {}",
                unprotected.join(", ")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::UnsafeRuntime(problems))
        }
    }
}

/// What makes `role` unsafe to work as: superuser, BYPASSRLS, ownership.
async fn role_problems(pool: &PgPool, role: &str) -> Result<Vec<String>> {
    let (superuser, bypassrls, owned): (bool, bool, Vec<String>) = sqlx::query_as(
        "SELECT r.rolsuper, r.rolbypassrls,
                ARRAY(SELECT c.relname::text FROM pg_class c WHERE c.relowner = r.oid ORDER BY 1)
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(role)
    .fetch_one(pool)
    .await?;
    let mut problems = Vec::new();
    if superuser {
        problems.push(format!("the runtime role {role} is a superuser"));
    }
    if bypassrls {
        problems.push(format!("the runtime role {role} has BYPASSRLS"));
    }
    if !owned.is_empty() {
        problems.push(format!("the runtime role {role} owns {}", owned.join(", ")));
    }
    Ok(problems)
}

async fn login_of(pool: &PgPool) -> Result<Login> {
    let (user, superuser, app_exists): (String, bool, bool) = sqlx::query_as(
        "SELECT session_user::text, r.rolsuper, to_regrole('pplane_app') IS NOT NULL
         FROM pg_roles r WHERE r.rolname = session_user",
    )
    .fetch_one(pool)
    .await?;
    if !app_exists {
        // The roles come with the first migration.
        return Err(MigrationError::NotMigrated.into());
    }
    if user == APP_ROLE {
        return Ok(Login {
            user,
            superuser,
            switches_role: false,
        });
    }
    let member: bool =
        sqlx::query_scalar("SELECT pg_has_role(session_user, 'pplane_app', 'MEMBER')")
            .fetch_one(pool)
            .await?;
    if !member {
        return Err(StoreError::RoleUnavailable {
            login: user,
            role: APP_ROLE,
            hint: "log in as pplane_app, or GRANT pplane_app TO this login",
        });
    }
    Ok(Login {
        user,
        superuser,
        switches_role: true,
    })
}

impl Store {
    /// Creates a tenant with `member` as its first member, in one transaction.
    pub async fn tenant_create(&self, name: &str, member: UserId) -> Result<TenantId> {
        use crate::repositories::tenants;
        let tenant = TenantId::new();
        let principal = self.delivery_principal().await?;
        let mut tx = self.owner_tx(tenant).await?;
        tenants::tenant_create(tx.conn(), tenant, name).await?;
        tenants::delivery_membership_add(tx.conn(), tenant, principal).await?;
        tenants::membership_add(tx.conn(), tenant, member).await?;
        tx.commit().await?;
        Ok(tenant)
    }

    /// Sets a tenant's quotas on its pending effects (None leaves one as it
    /// is). An operator's act: the owner's login, never a tenant's key
    /// (`pplane_app` may not write `tenants`).
    pub async fn tenant_quota_set(
        &self,
        tenant: TenantId,
        max_pending_effects: Option<i64>,
        max_pending_bytes: Option<i64>,
    ) -> Result<()> {
        use crate::repositories::tenants;
        if [max_pending_effects, max_pending_bytes]
            .iter()
            .flatten()
            .any(|n| *n < 1)
        {
            return Err(StoreError::InvalidInput(
                "a quota must be at least 1 (pending effects, or bytes)".into(),
            ));
        }
        let mut tx = self.owner_tx(tenant).await?;
        let found =
            tenants::tenant_quota_set(tx.conn(), tenant, max_pending_effects, max_pending_bytes)
                .await?;
        if !found {
            return Err(StoreError::NotFound {
                entity: "tenant",
                id: tenant.to_string(),
            });
        }
        tx.commit().await?;
        Ok(())
    }
}
