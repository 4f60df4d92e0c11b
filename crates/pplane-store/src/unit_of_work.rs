//! Units of work: a transaction that carries its security context.
//!
//! Repositories take `&mut PgConnection`, so any of them can join the caller's
//! transaction; these types are how a caller gets a transaction whose role
//! and tenant context are already set, and they end it explicitly. Dropping
//! one without `commit` rolls it back, so a failed operation leaves nothing
//! half-written.
//!
//! The trace context travels with each operation rather than with the
//! transaction: the actor and the cause in `operations::Origin`, the
//! correlation id with the entity being changed (minted once, at ingestion).
//! One unit of work may so touch several runs, each keeping its own trace.

use pplane_domain::{TenantId, UserId};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgTransactionManager;
use sqlx::{Executor, PgConnection, PgPool, Postgres, TransactionManager};

use crate::context::{Context, Profile};
use crate::Result;

/// A pooled connection inside a transaction that began with one simple
/// query (BEGIN and the statements that set its role and context; on Citus
/// a second one: crate::context).
///
/// sqlx's own `Transaction` cannot be used for that: when a statement after
/// BEGIN fails (the membership check refusing a non-member), sqlx has not
/// counted the transaction yet, so nothing rolls it back and the connection
/// would go back to the pool inside an aborted transaction, failing whoever
/// gets it next. Here a failed begin is rolled back before the connection is
/// released; everything else is sqlx's transaction manager.
#[derive(Debug)]
struct OpenTx {
    conn: PoolConnection<Postgres>,
    open: bool,
    profile: Profile,
}

impl OpenTx {
    async fn begin(pool: &PgPool, profile: Profile, context: &Context) -> Result<OpenTx> {
        let mut conn = pool.acquire().await?;
        let mut statements = profile.statements(true, context).into_iter();
        let first = statements.next().unwrap_or_else(|| "BEGIN".into());
        if let Err(err) = PgTransactionManager::begin(&mut conn, Some(first.into())).await {
            // Without a transaction open this is a warning, not an error.
            let _ = conn.execute("ROLLBACK").await;
            return Err(err.into());
        }
        let mut tx = OpenTx {
            conn,
            open: true,
            profile,
        };
        for rest in statements {
            // A failure drops `tx`, which rolls the transaction back.
            tx.conn.execute(rest.as_str()).await?;
        }
        Ok(tx)
    }

    /// Sets `context` for the rest of the transaction.
    async fn set(&mut self, context: &Context) -> Result<()> {
        for statement in self.profile.statements(false, context) {
            // A &str with no arguments goes as one simple query.
            self.conn.execute(statement.as_str()).await?;
        }
        Ok(())
    }

    async fn commit(mut self) -> Result<()> {
        PgTransactionManager::commit(&mut self.conn).await?;
        self.open = false;
        Ok(())
    }

    async fn rollback(mut self) -> Result<()> {
        PgTransactionManager::rollback(&mut self.conn).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for OpenTx {
    /// Dropped without commit: the rollback is queued and sent when the
    /// pool takes the connection back, as sqlx does for its transactions.
    fn drop(&mut self) {
        if self.open {
            PgTransactionManager::start_rollback(&mut self.conn);
        }
    }
}

/// A transaction as `pplane_app` inside one tenant, for one principal.
#[derive(Debug)]
pub struct TenantTx {
    tx: OpenTx,
    tenant: TenantId,
    user: UserId,
}

impl TenantTx {
    /// Begins with `context` (role, tenant, principal, membership check).
    pub(crate) async fn begin(
        pool: &PgPool,
        profile: Profile,
        context: &Context,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Self> {
        let tx = OpenTx::begin(pool, profile, context).await?;
        Ok(TenantTx { tx, tenant, user })
    }

    /// Continues in another tenant, same principal, same transaction: a
    /// worker settles the entries of several tenants in one commit.
    pub async fn switch_tenant(&mut self, tenant: TenantId) -> Result<()> {
        if tenant != self.tenant {
            let context = Context {
                role: None,
                tenant: Some(tenant),
                user: Some(self.user),
            };
            self.tx.set(&context).await?;
            self.tenant = tenant;
        }
        Ok(())
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn user(&self) -> UserId {
        self.user
    }

    sealed! {
        /// The connection, for repository calls that join this transaction.
        fn conn(&mut self) -> &mut PgConnection {
            &mut self.tx.conn
        }
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await
    }
}

/// A transaction as `pplane_dispatcher`: it claims outbox entries of any
/// tenant and purges delivered ones, and can do nothing else. It continues
/// as a [`TenantTx`] to record what the claim started.
#[derive(Debug)]
pub struct DispatchTx {
    tx: OpenTx,
}

impl DispatchTx {
    pub(crate) async fn begin(pool: &PgPool, profile: Profile, context: &Context) -> Result<Self> {
        Ok(DispatchTx {
            tx: OpenTx::begin(pool, profile, context).await?,
        })
    }

    sealed! {
        fn conn(&mut self) -> &mut PgConnection {
            &mut self.tx.conn
        }
    }

    /// The same transaction, from here on as `pplane_app` in `tenant` for
    /// `user`, under the usual policies.
    pub async fn into_tenant(mut self, tenant: TenantId, user: UserId) -> Result<TenantTx> {
        let context = Context {
            role: Some(crate::store::APP_ROLE),
            tenant: Some(tenant),
            user: Some(user),
        };
        self.tx.set(&context).await?;
        Ok(TenantTx {
            tx: self.tx,
            tenant,
            user,
        })
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }
}

/// A transaction as `pplane_owner` with only `app.tenant_id` set: tenant and
/// membership administration.
#[derive(Debug)]
pub struct OwnerTx {
    tx: OpenTx,
}

impl OwnerTx {
    pub(crate) async fn begin(pool: &PgPool, profile: Profile, context: &Context) -> Result<Self> {
        Ok(OwnerTx {
            tx: OpenTx::begin(pool, profile, context).await?,
        })
    }

    sealed! {
        fn conn(&mut self) -> &mut PgConnection {
            &mut self.tx.conn
        }
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }
}
