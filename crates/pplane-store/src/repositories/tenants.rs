//! Tenants and their members.

use std::sync::LazyLock;

use pplane_domain::{TenantId, UserId};
use sqlx::PgConnection;

use super::events::PendingMove;
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

/// A tenant's quotas on what waits in its outbox, and what counts against
/// them now (kept on the tenant's event-log head row by the statements that
/// open and close entries, migration 24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct TenantQuota {
    pub max_pending_effects: i64,
    pub max_pending_bytes: i64,
    pub pending_effects: i64,
    pub pending_bytes: i64,
}

/// A [`TenantQuota`]'s columns, of `tenants t` and its head row `h`, left
/// joined (a tenant that never appended has none: nothing counted yet).
pub(super) const QUOTA_COLUMNS: &str = "t.max_pending_effects, t.max_pending_bytes,
     coalesce(h.pending_effects, 0) AS pending_effects,
     coalesce(h.pending_bytes, 0) AS pending_bytes";

/// The tenant's quotas and counts, as operators and the console show them
/// (an effect request reads them with the rest of what it checks:
/// `effects::effect_request_read`). None if the tenant is not visible.
pub async fn tenant_quota_fetch(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<Option<TenantQuota>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {QUOTA_COLUMNS}
             FROM tenants t LEFT JOIN tenant_event_heads h ON h.tenant_id = t.tenant_id
             WHERE t.tenant_id = $1"
        )
    });
    Ok(sqlx::query_as(SQL.as_str())
        .bind(tenant.as_uuid())
        .fetch_optional(conn)
        .await?)
}

/// Moves the tenant's pending counts by `pending`, for a statement that
/// opened or closed entries and appended no event beside them (which would
/// have counted them: [`super::events::APPEND`]): a requeue, whose event
/// came first, and a settlement whose effects had all ended (no event).
/// Either way this head row is the only one the transaction takes.
pub async fn tenant_pending_move(
    conn: &mut PgConnection,
    tenant: TenantId,
    pending: PendingMove,
) -> Result<()> {
    if pending.is_zero() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE tenant_event_heads
         SET pending_effects = pending_effects + $2, pending_bytes = pending_bytes + $3
         WHERE tenant_id = $1",
    )
    .bind(tenant.as_uuid())
    .bind(pending.effects)
    .bind(pending.bytes)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the tenant's quotas (None leaves one as it is). Needs an owner
/// transaction in `tenant`; false if there is no such tenant.
pub async fn tenant_quota_set(
    conn: &mut PgConnection,
    tenant: TenantId,
    max_pending_effects: Option<i64>,
    max_pending_bytes: Option<i64>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE tenants SET max_pending_effects = coalesce($2, max_pending_effects),
                            max_pending_bytes = coalesce($3, max_pending_bytes)
         WHERE tenant_id = $1",
    )
    .bind(tenant.as_uuid())
    .bind(max_pending_effects)
    .bind(max_pending_bytes)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
