//! Tenants and their members.

use pplane_domain::{TenantId, UserId};
use sqlx::PgConnection;

use crate::{Result, StoreError};

pub const TENANT_NAME_MAX: usize = 200;

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct Tenant {
    #[sqlx(try_from = "uuid::Uuid")]
    pub tenant_id: TenantId,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Creates a tenant. Needs an owner transaction whose active tenant is `tenant`.
pub async fn tenant_create(conn: &mut PgConnection, tenant: TenantId, name: &str) -> Result<()> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > TENANT_NAME_MAX {
        return Err(StoreError::InvalidInput(format!(
            "a tenant name must be 1 to {TENANT_NAME_MAX} characters, got {:?}",
            name
        )));
    }
    sqlx::query("INSERT INTO tenants (tenant_id, name) VALUES ($1, $2)")
        .bind(tenant.as_uuid())
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes `user` a member of `tenant`; adding an existing member is a no-op.
pub async fn membership_add(conn: &mut PgConnection, tenant: TenantId, user: UserId) -> Result<()> {
    sqlx::query(
        "INSERT INTO user_tenants (tenant_id, user_id) VALUES ($1, $2)
         ON CONFLICT (tenant_id, user_id) DO NOTHING",
    )
    .bind(tenant.as_uuid())
    .bind(user.as_uuid())
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes the plane's delivery principal (the outbox worker's identity, in
/// `pplane_meta.plane`, read by [`crate::Store::delivery_principal`]) a
/// member of `tenant`; a no-op when it is one. The insert trigger on
/// `tenants` (migration 7) does the same on a plain server; on Citus a
/// trigger on a reference table fires on every node's copy, where that
/// table does not exist, so the store does not rely on it. The principal
/// comes as a value: Citus cannot plan a generic INSERT ... SELECT from a
/// coordinator-local table into a reference table.
pub async fn delivery_membership_add(
    conn: &mut PgConnection,
    tenant: TenantId,
    principal: UserId,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO user_tenants (tenant_id, user_id) VALUES ($1, $2)
         ON CONFLICT (tenant_id, user_id) DO NOTHING",
    )
    .bind(tenant.as_uuid())
    .bind(principal.as_uuid())
    .execute(conn)
    .await?;
    Ok(())
}

/// The active tenant, if the principal is a member of it.
pub async fn tenant_fetch(conn: &mut PgConnection, tenant: TenantId) -> Result<Option<Tenant>> {
    Ok(
        sqlx::query_as("SELECT tenant_id, name, created_at FROM tenants WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_optional(conn)
            .await?,
    )
}

/// Every tenant, to a login that sees past row-level security.
pub async fn tenants_all(conn: &mut PgConnection) -> Result<Vec<TenantId>> {
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT tenant_id FROM tenants ORDER BY tenant_id")
            .fetch_all(conn)
            .await?;
    Ok(ids.into_iter().map(TenantId::from_uuid).collect())
}
