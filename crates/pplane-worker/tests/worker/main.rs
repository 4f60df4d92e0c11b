//! The outbox worker's specification, on a real PostgreSQL, a real HTTP
//! receiver and a real nats-server: one module per feature, a fresh
//! database per test.

mod citus;
mod fairness;
mod jetstream;
mod leases;
mod retries;
mod shard_moves;
mod support;
mod webhook;
