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
use sqlx::{PgConnection, Postgres, Transaction};

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
