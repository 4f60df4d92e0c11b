//! Reading the story: the tenant's event log in pages (a long poll when
//! the client is caught up), and one correlation's (or run's) whole trace,
//! the same document as `pplane trace --json`.
//!
//! Tailing never skips or repeats an event: positions are gap-free and
//! assigned in commit order per tenant, so an event after position `after`
//! cannot commit later than one already read past it. A client resumes, on
//! any reconnect, from the last `sequence_number` it saw.

use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::Json;
use pplane_store::queries::events::{events_since, Event};
use pplane_store::queries::trace::{trace_load, Trace};
use pplane_store::Store;
use serde::{Deserialize, Serialize};

use super::field;
use crate::body::Params;
use crate::problem::{Kind, Problem};
use crate::session::Session;

/// The most events one page holds.
pub const PAGE_MAX: i64 = 1_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The last sequence number the client has seen (0: from the start).
    #[serde(default)]
    pub after: i64,
    /// At most this many events (default 100, at most 1,000).
    pub limit: Option<i64>,
    /// When there is nothing after `after` yet, wait up to this many
    /// seconds (at most 30) for the next event before answering (a long
    /// poll); 0 or absent answers at once.
    #[serde(default)]
    pub wait: u64,
}

/// The most a long poll waits.
pub const WAIT_MAX_S: u64 = 30;
/// How often a waiting long poll looks again.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// A page of the tenant's log, in sequence order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub events: Vec<Event>,
    /// What to pass as `after` for the next page.
    pub next_after: i64,
}

#[utoipa::path(
    get,
    operation_id = "events_page",
    path = "/v1/events",
    tag = "events",
    summary = "The tenant's events after a position; a long poll with wait",
    params(PageQuery),
    responses((status = 200, description = "The tenant's events after a position; a long poll with wait", body = Page)),
    security(("api_key" = [])),
)]
pub async fn page(
    mut session: Session,
    State(store): State<Store>,
    Params(q): Params<PageQuery>,
) -> Result<Json<Page>, Problem> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=PAGE_MAX).contains(&limit) || q.after < 0 || q.wait > WAIT_MAX_S {
        return Err(Problem::new(
            Kind::InvalidInput,
            format!("limit must be 1 to {PAGE_MAX}, after 0 or more, wait 0 to {WAIT_MAX_S}"),
        ));
    }
    let mut events = events_since(&mut session.tx, q.after, limit).await?;
    let (tenant, user) = (session.tx.tenant(), session.user());
    session.commit().await?;
    // Each look is its own short transaction (a fresh snapshot), so a wait
    // holds no transaction open.
    let deadline = Instant::now() + Duration::from_secs(q.wait);
    while events.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(POLL_EVERY).await;
        let mut tx = store.tenant_tx(tenant, user).await?;
        events = events_since(&mut tx, q.after, limit).await?;
        tx.commit().await?;
    }
    let next_after = events.last().map_or(q.after, |e| e.sequence_number);
    Ok(Json(Page { events, next_after }))
}

#[utoipa::path(
    get,
    operation_id = "trace_get",
    path = "/v1/trace/{id}",
    tag = "events",
    summary = "The whole story of a run or correlation",
    params(("id" = uuid::Uuid, Path, description = "A run id or a correlation id")),
    responses((status = 200, description = "The whole story of a run or correlation", body = Trace)),
    security(("api_key" = [])),
)]
pub async fn trace(mut session: Session, Path(id): Path<String>) -> Result<Json<Trace>, Problem> {
    let id: uuid::Uuid = field("id (a run or correlation id)", &id)?;
    let trace = trace_load(&mut session.tx, id).await?;
    session.commit().await?;
    trace.map(Json).ok_or_else(|| {
        Problem::new(
            Kind::NotFound,
            format!("nothing in this tenant has id {id}"),
        )
    })
}
