//! The outbox delivery worker, as a library other programs can embed; the
//! `pplane worker` command is a thin shell over [`Worker`].
//!
//! It owns no SQL: claims, dispatches and settlements are the persistence
//! crate's functions; this crate decides when to call them, talks to the
//! receivers, and turns their answers into outcomes.
//!
//! # Layout
//! - [`config`]: [`WorkerConfig`]: identity, parallelism, lease, timeouts, backoff.
//! - [`worker`]: [`Worker`]: the claim → deliver → settle loop, wake-ups, shutdown.
//! - [`sinks`]: webhook and NATS JetStream delivery, each answer as a domain `Attempt`.
//! - [`signing`]: Standard Webhooks signatures (sign, and verify for receivers).
//! - `bench` (feature `bench`): `pplane bench outbox`, against a bare SKIP LOCKED queue on the same server.
//! - [`receiver`]: a verifying, deduplicating webhook receiver on loopback, for benchmarks,
//!   demos and tests.

#[cfg(feature = "bench")]
pub mod bench;
pub mod config;
pub mod receiver;
pub mod signing;
pub mod sinks;
pub mod worker;

pub use config::WorkerConfig;
pub use worker::{Tally, Worker, WorkerError};
