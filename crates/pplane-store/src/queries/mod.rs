//! Read-side queries. Unlike repositories, these read across aggregates.
//!
//! Each takes the caller's unit of work and reads as its principal, in its
//! tenant.
//!
//! - [`debugging`]: the walkthrough's section 8, query by query, as written.
//! - [`diagnose`]: why a run failed, where an effect stands.
//! - [`events`]: the log after a position, a correlation's events, its causation tree.
//! - [`jobs`]: the scheduled jobs' health, for the dispatcher (the metrics).
//! - [`outbox`]: a tenant's entries and depth; the plane's, for the dispatcher.
//! - [`runs`]: a run with its steps and latest checkpoint.
//! - [`tenants`]: the tenant as its member sees it, a signal by id.
//! - [`trace`]: the whole story of one correlation in one round trip.

pub mod debugging;
pub mod diagnose;
pub mod events;
pub mod jobs;
pub mod outbox;
pub mod runs;
pub mod tenants;
pub mod trace;

use pplane_domain::TenantId;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Result, StoreError};

/// Runs a query that builds one JSON document from `$1` (the tenant) and
/// `$2` (an id), and reads it back as `T`; None when it finds nothing.
/// Such queries' estimates run far above `jit_above_cost` (a recursive part,
/// many subqueries), and compiling the plan took 800 ms of an 817 ms trace of
/// a 1,000-event run among a million events; without JIT it takes 17 ms. So
/// JIT is off for the rest of the caller's transaction.
pub(crate) async fn document<T: serde::de::DeserializeOwned>(
    conn: &mut PgConnection,
    sql: &str,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<T>> {
    sqlx::query("SET LOCAL jit = off")
        .execute(&mut *conn)
        .await?;
    let doc: Option<serde_json::Value> = sqlx::query_scalar(sql)
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(conn)
        .await?;
    doc.map(|d| {
        serde_json::from_value(d)
            .map_err(|e| StoreError::Internal(format!("a document that does not read back: {e}")))
    })
    .transpose()
}
