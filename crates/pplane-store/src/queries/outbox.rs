//! Reading the outbox: a tenant's entries and depth, and, for the
//! dispatcher, the whole plane's depth and the leases other workers hold.

use pplane_domain::OutboxStatus;

pub use crate::repositories::effects::Effect;
pub use crate::repositories::outbox::OutboxEntry;
use crate::repositories::outbox::{outbox_fetch, outbox_list};
use crate::repositories::outbox_depth::{
    outbox_backlogs, outbox_deliveries_since, outbox_depth_by_tenant as depth_by_tenant,
    outbox_leases_held as leases_held, outbox_stats as stats,
};
pub use crate::repositories::outbox_depth::{OutboxStats, TenantBacklog};
use crate::{DispatchTx, Result, TenantTx};

/// The tenant's entries, newest first, optionally of one status; at most
/// `limit`.
pub async fn outbox_entries(
    tx: &mut TenantTx,
    status: Option<OutboxStatus>,
    limit: i64,
) -> Result<Vec<OutboxEntry>> {
    let tenant = tx.tenant();
    outbox_list(tx.conn(), tenant, status, limit).await
}

/// One of the tenant's entries; None when the tenant has no such entry.
pub async fn outbox_entry(
    tx: &mut TenantTx,
    id: pplane_domain::OutboxId,
) -> Result<Option<OutboxEntry>> {
    let tenant = tx.tenant();
    outbox_fetch(tx.conn(), tenant, id).await
}

/// The tenant's depth by status and its oldest due entry.
pub async fn outbox_stats(tx: &mut TenantTx) -> Result<OutboxStats> {
    let tenant = tx.tenant();
    stats(tx.conn(), Some(tenant)).await
}

/// The same across every tenant, as the dispatcher.
pub async fn outbox_stats_plane(dispatch: &mut DispatchTx) -> Result<OutboxStats> {
    stats(dispatch.conn(), None).await
}

/// The `top` tenants with the most open entries, each with its due entries
/// and how long its oldest has waited, as the dispatcher: who is waiting,
/// and on whom.
pub async fn outbox_backlog_tenants(
    dispatch: &mut DispatchTx,
    top: i64,
) -> Result<Vec<TenantBacklog>> {
    outbox_backlogs(dispatch.conn(), top).await
}

/// Entries by tenant and status (the status as stored, `PENDING`, ...), for
/// every tenant that has any, as the dispatcher.
pub async fn outbox_depth_tenants(
    dispatch: &mut DispatchTx,
) -> Result<Vec<(pplane_domain::TenantId, String, i64)>> {
    depth_by_tenant(dispatch.conn()).await
}

/// Entries other lease owners than `owner` hold under a lease that has not
/// expired, across every tenant.
pub async fn outbox_leases_held(dispatch: &mut DispatchTx, owner: &str) -> Result<u64> {
    leases_held(dispatch.conn(), owner).await
}

/// The tenant's deliveries over the hour before now, in twelve 5-minute
/// buckets, oldest first: each bucket's start and how many entries were
/// delivered in it (empty buckets included, as 0).
pub async fn outbox_deliveries_recent(
    tx: &mut TenantTx,
) -> Result<Vec<(chrono::DateTime<chrono::Utc>, i64)>> {
    let tenant = tx.tenant();
    outbox_deliveries_since(tx.conn(), tenant).await
}
