//! The routes: the probes at the root, everything else under `/v1`, each
//! request authenticated by its key ([`Session`](crate::session::Session))
//! and run in one tenant transaction.
//!
//! - [`health`]: `GET /healthz`, `GET /readyz` (and `GET /metrics`, in
//!   [`crate::metrics`]).
//! - [`signals`]: `POST /v1/signals`, idempotent.
//! - [`runs`]: a run's view, its lifecycle, its steps and checkpoints.
//! - [`steps`]: a step's lifecycle, and its tool calls.
//! - [`effects`]: effects, destinations, diagnoses, the operator's outbox.
//! - [`events`]: the tenant's event log in pages, and a correlation's trace.
//! - [`langgraph`]: LangGraph's checkpointer protocol, for `pplane-langgraph`.

pub mod effects;
pub mod events;
pub mod health;
pub mod langgraph;
pub mod runs;
pub mod signals;
pub mod steps;

use std::str::FromStr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use pplane_domain::{Actor, EventId};
use pplane_store::operations::Origin;
use pplane_store::Store;
use serde::Deserialize;

use crate::limits::{Limiter, Limits};
use crate::problem::{Kind, Problem};
use crate::session::{AppState, Session};

/// The largest body any route accepts: the largest payload the store takes
/// (a checkpoint's state, 1 MiB) with room for its envelope. Larger bodies
/// are refused (413) from their Content-Length, before they are read.
pub const BODY_MAX: usize = 2 * 1024 * 1024;

/// The largest body of a LangGraph checkpoint or of a task's writes: its
/// values are LangGraph's (up to 16 MiB each, base64 in JSON), so two of
/// the largest fit.
pub const LANGGRAPH_BODY_MAX: usize = 48 * 1024 * 1024;

/// Every route: the API, the console, the probes and `/metrics`, with the
/// default rate limits.
pub fn router(store: Store) -> Router {
    router_with(store, Options::default())
}

/// How a server is set up beyond its store.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub metrics: Metrics,
    /// Every key's default rate and every tenant's (`crate::limits`).
    pub limits: Limits,
}

/// Where `GET /metrics` is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Metrics {
    /// On the API's listener, beside everything else.
    #[default]
    Here,
    /// On a listener of its own ([`metrics_router`]): the API's listener
    /// answers 404 for it.
    Apart,
}

/// The API, the console and the probes; `/metrics` as `options` says.
pub fn router_with(store: Store, options: Options) -> Router {
    let limiter = Arc::new(Limiter::new(options.limits));
    let v1 = Router::new()
        .route("/signals", post(signals::ingest))
        .route("/runs/{run}", get(runs::show))
        .route("/runs/{run}/start", post(runs::start))
        .route("/runs/{run}/complete", post(runs::complete))
        .route("/runs/{run}/fail", post(runs::fail))
        .route("/runs/{run}/cancel", post(runs::cancel))
        .route("/runs/{run}/steps", post(runs::step_add))
        .route(
            "/runs/{run}/checkpoints",
            get(runs::checkpoint_list).post(runs::checkpoint_save),
        )
        .route(
            "/runs/{run}/checkpoints/latest",
            get(runs::checkpoint_latest),
        )
        .route("/steps/{step}/start", post(steps::start))
        .route("/steps/{step}/complete", post(steps::complete))
        .route("/steps/{step}/fail", post(steps::fail))
        .route("/steps/{step}/retry", post(steps::retry))
        .route("/steps/{step}/skip", post(steps::skip))
        .route("/steps/{step}/cancel", post(steps::cancel))
        .route("/steps/{step}/tool-calls", post(steps::tool_call_start))
        .route("/tool-calls/{call}/finish", post(steps::tool_call_finish))
        .route("/runs/{run}/effects", post(effects::request))
        .route("/runs/{run}/diagnosis", get(effects::run_diagnosis))
        .route("/effects/{effect}", get(effects::show))
        .route(
            "/destinations",
            get(effects::destinations).post(effects::destination_add),
        )
        .route("/outbox", get(effects::outbox))
        .route("/outbox/stats", get(effects::stats))
        .route("/outbox/purge", post(effects::purge))
        .route("/outbox/{entry}/requeue", post(effects::requeue))
        .route("/events", get(events::page))
        .route("/trace/{id}", get(events::trace))
        .nest("/langgraph", langgraph_routes())
        .route_layer(axum::middleware::from_fn_with_state(
            limiter.clone(),
            crate::limits::enforce,
        ));
    let probes = match options.metrics {
        Metrics::Here => probes().route("/metrics", get(crate::metrics::scrape)),
        Metrics::Apart => probes(),
    };
    let app = Router::new()
        .merge(probes)
        .route("/openapi.json", get(openapi_json))
        .nest("/v1", v1)
        .merge(crate::console::router())
        .layer(DefaultBodyLimit::max(BODY_MAX));
    served(app, store, limiter)
}

/// `GET /metrics` alone (and the probes), for a listener only Prometheus
/// reaches: `pplane serve --metrics-listen ADDR`.
pub fn metrics_router(store: Store) -> Router {
    served(
        probes().route("/metrics", get(crate::metrics::scrape)),
        store,
        Arc::new(Limiter::new(Limits::default())),
    )
}

/// The probes, answered on every listener.
fn probes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
}

/// What every listener's routes share: 404 problems for unknown routes, the
/// request metrics, the state.
fn served(app: Router<AppState>, store: Store, limits: Arc<Limiter>) -> Router {
    crate::metrics::handle();
    app.fallback(|| async { Problem::new(Kind::NotFound, "no such route") })
        .route_layer(axum::middleware::from_fn(crate::metrics::track))
        .with_state(AppState {
            store,
            console: Default::default(),
            limits,
        })
}

fn langgraph_routes() -> Router<AppState> {
    let documents = Router::new()
        .route(
            "/threads/{thread}/checkpoints",
            post(langgraph::checkpoint_put),
        )
        .route("/threads/{thread}/writes", post(langgraph::writes_put))
        .layer(DefaultBodyLimit::max(LANGGRAPH_BODY_MAX));
    Router::new()
        .route("/threads/{thread}", delete(langgraph::thread_delete))
        .route("/threads/{thread}/checkpoint", get(langgraph::tuple_get))
        .route("/threads/{thread}/copy", post(langgraph::thread_copy))
        .route("/checkpoints/search", post(langgraph::search))
        .route("/runs/delete", post(langgraph::runs_delete))
        .route("/prune", post(langgraph::prune))
        .merge(documents)
}

/// The OpenAPI 3.1 document of this API.
async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(crate::openapi::document())
}

/// Who makes a change, in every body that changes something: the actor
/// (default `user:<the key's principal>`), the event that caused it (of the
/// same run), and the version the caller saw.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct By {
    pub actor: Option<String>,
    pub caused_by: Option<String>,
    pub expected_version: Option<i32>,
}

impl By {
    fn origin(&self, session: &Session) -> Result<Origin, Problem> {
        let actor = match &self.actor {
            Some(text) => field::<Actor>("actor", text)?,
            None => Actor::User(session.user().to_string()),
        };
        let caused_by = self
            .caused_by
            .as_deref()
            .map(|t| field::<EventId>("caused_by", t))
            .transpose()?;
        Ok(Origin {
            actor,
            caused_by,
            expected_version: self.expected_version,
        })
    }
}

/// A failure's details, with who records it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FailBody {
    pub error: serde_json::Value,
    #[serde(flatten)]
    pub by: By,
}

/// Why something is skipped or cancelled, with who does it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReasonBody {
    pub reason: String,
    #[serde(flatten)]
    pub by: By,
}

/// A change's answer: what it changed, and the events it appended.
pub(crate) type Moved<T> = Result<axum::Json<pplane_store::operations::Changed<T>>, Problem>;

/// A value of the request, parsed: 422 naming the field when it is malformed.
pub(crate) fn field<T: FromStr>(name: &str, text: &str) -> Result<T, Problem>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| Problem::new(Kind::InvalidInput, format!("{name}: {e}")))
}
