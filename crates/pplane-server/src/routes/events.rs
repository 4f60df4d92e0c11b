//! Reading the story: the tenant's event log in pages, and one
//! correlation's (or run's) whole trace, the same document as
//! `pplane trace --json`.

use axum::extract::{Path, Query};
use axum::Json;
use pplane_store::queries::events::{events_since, Event};
use pplane_store::queries::trace::{trace_load, Trace};
use serde::{Deserialize, Serialize};

use super::field;
use crate::problem::{Kind, Problem};
use crate::session::Session;

/// The most events one page holds.
pub const PAGE_MAX: i64 = 1_000;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// The last sequence number the client has seen (0: from the start).
    #[serde(default)]
    pub after: i64,
    /// At most this many events (default 100, at most 1,000).
    pub limit: Option<i64>,
}

/// A page of the tenant's log, in sequence order.
#[derive(Debug, Serialize)]
pub struct Page {
    pub events: Vec<Event>,
    /// What to pass as `after` for the next page.
    pub next_after: i64,
}

pub async fn page(mut session: Session, Query(q): Query<PageQuery>) -> Result<Json<Page>, Problem> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=PAGE_MAX).contains(&limit) || q.after < 0 {
        return Err(Problem::new(
            Kind::InvalidInput,
            format!("limit must be 1 to {PAGE_MAX} and after 0 or more"),
        ));
    }
    let events = events_since(&mut session.tx, q.after, limit).await?;
    session.commit().await?;
    let next_after = events.last().map_or(q.after, |e| e.sequence_number);
    Ok(Json(Page { events, next_after }))
}

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
