//! `pplane serve`: the plane as an HTTP/JSON service, so orchestrators in
//! any language can drive runs, read traces and tail their tenant's events.
//!
//! Every request carries an API key (`Authorization: Bearer ppk_…`) bound to
//! one tenant, one principal and one scope; the request runs in one tenant
//! transaction as that principal, so row-level security fences it exactly as
//! it fences the CLI. The server calls the store's operations and queries
//! only: it holds no SQL.
//!
//! # Layout
//! - [`problem`]: RFC 9457 problem documents, and the one mapping from the
//!   store's errors to HTTP statuses.
//! - [`session`]: the API key check that opens each request's transaction.
//! - [`limits`]: a token bucket per API key and per tenant, in memory.
//! - [`body`]: JSON bodies and query parameters whose errors are problem
//!   documents naming the field.
//! - [`routes`]: the routes under `/v1`, one module per resource, and the probes.
//! - [`console`]: the web console at `/`: pages over the same queries,
//!   signed in with an API key exchanged for a session cookie.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers.
//! - [`metrics`]: `GET /metrics` for Prometheus, and the request counters.
//! - `bench` (feature `bench`): `pplane bench api`, HTTP against the library.

#[cfg(feature = "bench")]
pub mod bench;
pub mod body;
pub mod console;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod session;

use std::future::Future;

use axum::serve::ListenerExt;
use pplane_store::Store;
use tokio::net::TcpListener;

pub use routes::{metrics_router, router, router_with, Metrics, Options};

/// Serves `router(store)` on `listener` until `shutdown` resolves; then stops
/// accepting and lets the requests in flight finish (each is one
/// transaction, so none is left half-written).
pub async fn serve(
    store: Store,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(router(store), listener, shutdown).await
}

/// Serves `app` on `listener` as [`serve`] does.
pub async fn serve_router(
    app: axum::Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Answers are small and a client waits on each: sent at once, never held
    // back for a delayed acknowledgement of the previous segment.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set on a connection: {err}");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
