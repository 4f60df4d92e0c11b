//! The HTTP API's specification: a real server on a free port, a real HTTP
//! client, a fresh database per test.

mod auth;
mod console;
mod effects;
mod errors;
mod langgraph;
mod limits;
mod metrics;
mod openapi;
mod probes;
mod runs;
mod stream;
mod support;
