//! The console's stylesheet and script, compiled into the binary: nothing
//! is fetched from anywhere else, so the pages work on a closed network and
//! the Content-Security-Policy can allow this origin only.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

pub const CSS_PATH: &str = "/assets/console.css";
pub const JS_PATH: &str = "/assets/console.js";

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

pub async fn css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", CSS)
}

pub async fn js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, kind), (CACHE_CONTROL, "public, max-age=300")],
        body,
    )
}
