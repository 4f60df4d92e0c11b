//! Reading the event log: a tenant's log after a position (what a consumer
//! tailing it reads), one correlation's events, and its causation tree.

use pplane_domain::CorrelationId;

use crate::repositories::events::{event_causal_chain, events_after, events_by_correlation};
pub use crate::repositories::events::{CausalLink, Event};
use crate::{Result, TenantTx};

/// The tenant's events after position `after`, in order, at most `limit`.
pub async fn events_since(tx: &mut TenantTx, after: i64, limit: i64) -> Result<Vec<Event>> {
    let tenant = tx.tenant();
    events_after(tx.conn(), tenant, after, limit).await
}

/// Every event of one correlation, in log order.
pub async fn events_of_correlation(
    tx: &mut TenantTx,
    correlation: CorrelationId,
) -> Result<Vec<Event>> {
    let tenant = tx.tenant();
    events_by_correlation(tx.conn(), tenant, correlation).await
}

/// The causation tree of one correlation, from its root, by depth (the
/// walkthrough's recursive query, section 8, step 7).
pub async fn causation_tree(
    tx: &mut TenantTx,
    correlation: CorrelationId,
) -> Result<Vec<CausalLink>> {
    let tenant = tx.tenant();
    event_causal_chain(tx.conn(), tenant, correlation).await
}
