//! Probes for process managers and load balancers; no key needed, nothing
//! about any tenant told.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pplane_store::Store;

use crate::problem::{Kind, Problem};

/// A probe's answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `alive` or `ready`.
    pub status: &'static str,
}

#[utoipa::path(
    get,
    operation_id = "health_alive",
    path = "/healthz",
    tag = "probes",
    summary = "The process is up",
    responses((status = 200, description = "The process is up", body = Status)),
)]
/// The process is up.
pub async fn alive() -> Json<Status> {
    Json(Status { status: "alive" })
}

#[utoipa::path(
    get,
    operation_id = "health_ready",
    path = "/readyz",
    tag = "probes",
    summary = "The database answers and its schema is this binary's (503 otherwise)",
    responses((status = 200, description = "The database answers and its schema is this binary's (503 otherwise)", body = Status)),
)]
/// The database answers and its schema is the one this binary needs.
pub async fn ready(State(store): State<Store>) -> Result<Json<Status>, Problem> {
    match store.ready().await {
        Ok(()) => Ok(Json(Status { status: "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Err(Problem {
                status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
                title: "Not ready",
                ..Problem::new(
                    Kind::Internal,
                    "the database is unreachable or its schema is not this binary's",
                )
            })
        }
    }
}
