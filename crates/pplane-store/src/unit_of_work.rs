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
use sqlx::{Executor, PgConnection, Postgres, Transaction};

use crate::Result;

/// A transaction as `pplane_app` inside one tenant, for one principal.
#[derive(Debug)]
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    tenant: TenantId,
    user: UserId,
}

impl TenantTx {
    pub(crate) fn new(tx: Transaction<'static, Postgres>, tenant: TenantId, user: UserId) -> Self {
        TenantTx { tx, tenant, user }
    }

    /// Continues in another tenant, same principal, same transaction: a
    /// worker settles the entries of several tenants in one commit.
    pub async fn switch_tenant(&mut self, tenant: TenantId) -> Result<()> {
        if tenant != self.tenant {
            let set = format!("SET LOCAL app.tenant_id = '{}'", tenant.as_uuid());
            // A &str with no arguments goes as one simple query.
            let conn: &mut PgConnection = &mut self.tx;
            conn.execute(set.as_str()).await?;
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

    /// The connection, for repository calls that join this transaction.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }

    pub async fn rollback(self) -> Result<()> {
        Ok(self.tx.rollback().await?)
    }
}

/// A transaction as `pplane_dispatcher`: it claims outbox entries of any
/// tenant and purges delivered ones, and can do nothing else. It continues
/// as a [`TenantTx`] to record what the claim started.
#[derive(Debug)]
pub struct DispatchTx {
    tx: Transaction<'static, Postgres>,
}

impl DispatchTx {
    pub(crate) fn new(tx: Transaction<'static, Postgres>) -> Self {
        DispatchTx { tx }
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// The same transaction, from here on as `pplane_app` in `tenant` for
    /// `user`, under the usual policies.
    pub async fn into_tenant(mut self, tenant: TenantId, user: UserId) -> Result<TenantTx> {
        let set = format!(
            "SET LOCAL ROLE pplane_app; SET LOCAL app.tenant_id = '{}'; SET LOCAL app.user_id = '{}'",
            tenant.as_uuid(),
            user.as_uuid()
        );
        let conn: &mut PgConnection = &mut self.tx;
        conn.execute(set.as_str()).await?;
        Ok(TenantTx::new(self.tx, tenant, user))
    }

    pub async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }
}

/// A transaction as `pplane_owner` with only `app.tenant_id` set: tenant and
/// membership administration.
#[derive(Debug)]
pub struct OwnerTx {
    tx: Transaction<'static, Postgres>,
}

impl OwnerTx {
    pub(crate) fn new(tx: Transaction<'static, Postgres>) -> Self {
        OwnerTx { tx }
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }
}
