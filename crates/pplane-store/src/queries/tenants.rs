//! Reading what a principal may see of its tenant: the tenant itself, and a
//! signal by id.

use pplane_domain::SignalId;

use crate::repositories::signals::signal_fetch;
pub use crate::repositories::signals::Signal;
use crate::repositories::tenants::tenant_fetch;
pub use crate::repositories::tenants::Tenant;
use crate::{Result, TenantTx};

/// The unit of work's tenant, as its member sees it.
pub async fn tenant_get(tx: &mut TenantTx) -> Result<Option<Tenant>> {
    let tenant = tx.tenant();
    tenant_fetch(tx.conn(), tenant).await
}

/// A signal of the tenant by id.
pub async fn signal_get(tx: &mut TenantTx, id: SignalId) -> Result<Option<Signal>> {
    let tenant = tx.tenant();
    signal_fetch(tx.conn(), tenant, id).await
}
