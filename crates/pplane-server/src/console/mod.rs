//! The console: server-rendered pages over the same store queries the API
//! uses, for an operator who wants to look rather than read.
//!
//! Signing in exchanges an API key for a session cookie; every page then
//! runs in the key's tenant transaction as the API does, so it shows that
//! tenant only and allows what the key's scope allows. Every POST carries
//! the session's CSRF token and must come from the console's own origin.
//!
//! - [`sessions`]: the session tokens, kept hashed, in this process.
//! - [`access`]: the signed-in viewer, sign-in and sign-out, errors as pages.
//! - [`layout`]: the frame every page shares, and how values are shown.
//! - [`runs`]: the runs list, filtered, searched and paged.
//! - [`run`]: one run: its steps and tool calls, waterfall, causation tree,
//!   checkpoints and effects.
//! - [`outbox`]: dead letters (requeued by operator keys) and the outbox's depth.
//! - [`assets`]: the stylesheet and script, embedded.

pub mod access;
pub mod assets;
pub mod layout;
pub mod outbox;
pub mod run;
pub mod runs;
pub mod sessions;

use axum::http::header::{CACHE_CONTROL, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::http::{HeaderName, HeaderValue, Request};
use axum::middleware::Next;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

pub use sessions::Sessions;

use crate::session::AppState;

/// The console's pages, at the root beside `/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/runs") }))
        .route("/sign-in", get(access::sign_in_page).post(access::sign_in))
        .route("/sign-out", post(access::sign_out))
        .route("/runs", get(runs::list))
        .route("/runs/{run}", get(run::page))
        .route("/effects/{effect}", get(run::effect))
        .route("/dead-letters", get(outbox::dead_letters))
        .route("/dead-letters/{entry}/requeue", post(outbox::requeue))
        .route("/outbox", get(outbox::depth))
        .route(assets::CSS_PATH, get(assets::css))
        .route(assets::JS_PATH, get(assets::js))
        .layer(axum::middleware::from_fn(guard))
}

/// Headers on every console answer: nothing but this origin's own assets may
/// load or run, no other site may frame a page, and pages (which show a
/// tenant's data) are not stored by caches.
async fn guard(request: Request<axum::body::Body>, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        HeaderName::from_static("content-security-policy"),
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, X_FRAME_OPTIONS, "DENY");
    set(headers, REFERRER_POLICY, "same-origin");
    if !is_asset {
        set(headers, CACHE_CONTROL, "no-store");
    }
    response
}
