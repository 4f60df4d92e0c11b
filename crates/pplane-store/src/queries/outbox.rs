//! Reading the outbox: a tenant's entries and depth, and, for the
//! dispatcher, the whole plane's depth and the leases other workers hold.

use pplane_domain::OutboxStatus;

pub use crate::repositories::effects::Effect;
use crate::repositories::outbox::{
    outbox_depth_by_tenant as depth_by_tenant, outbox_leases_held as leases_held, outbox_list,
    outbox_stats as stats,
};
pub use crate::repositories::outbox::{OutboxEntry, OutboxStats};
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

/// The tenant's depth by status and its oldest due entry.
pub async fn outbox_stats(tx: &mut TenantTx) -> Result<OutboxStats> {
    let tenant = tx.tenant();
    stats(tx.conn(), Some(tenant)).await
}

/// The same across every tenant, as the dispatcher.
pub async fn outbox_stats_plane(dispatch: &mut DispatchTx) -> Result<OutboxStats> {
    stats(dispatch.conn(), None).await
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
