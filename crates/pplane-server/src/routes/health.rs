//! Probes for process managers and load balancers; no key needed, nothing
//! about any tenant told.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pplane_store::Store;
use serde_json::{json, Value};

use crate::problem::{Kind, Problem};

/// The process is up.
pub async fn alive() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

/// The database answers and its schema is the one this binary needs.
pub async fn ready(State(store): State<Store>) -> Result<Json<Value>, Problem> {
    match store.ready().await {
        Ok(()) => Ok(Json(json!({ "status": "ready" }))),
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
