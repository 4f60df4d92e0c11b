//! The persistence layer of pplane: the only crate that speaks SQL.
//!
//! By default it is the runtime an orchestrator embeds; the operator tools
//! (gates, benchmarks) come with the feature `operator`, and only they
//! spawn processes or use the cluster launcher.
//!
//! Feature code (the CLI, the outbox worker) calls functions here and never
//! writes a query of its own; a test asserts from `cargo metadata` that no
//! other crate depends on the database driver.
//!
//! # Layout
//! - [`store`]: [`Store`], the runtime's pool, and the guard that refuses an unsafe role
//!   or an outdated schema.
//! - [`unit_of_work`]: [`TenantTx`], [`OwnerTx`] and [`DispatchTx`], transactions that
//!   carry their role and tenant context.
//! - [`context`]: how a transaction sets its role and tenant context, on one server and on
//!   Citus ([`Profile`]).
//! - [`appender`]: group commit for event appends across concurrent callers.
//! - `repositories` (private; public only to the crate's tests): noun-first functions per
//!   aggregate, each joining the caller's transaction (`run_insert`, `event_append`, ...).
//! - [`operations`]: the plane's state changes: ingestion, run/step/tool-call lifecycles,
//!   checkpoints, effect requests; each checks the state machine and emits its event.
//! - [`projections`]: expendable read models (`run_summary`): refresh, and rebuild from the
//!   event log. Business code never reads them.
//! - [`limits`]: explicit payload size limits.
//! - [`listener`]: LISTEN for the outbox's wake-up notifications.
//! - `metrics` (private): event appends counted and timed through the `metrics` facade.
//! - [`queries`]: read-side queries, starting with the walkthrough's debugging procedure.
//! - `checks` (feature `operator`): the schema, data and production gates.
//! - `citus` (feature `operator`): a Citus cluster's workers, and a database made on every node.
//! - [`migrations`]: the embedded, reversible, checksummed migration runner.
//! - [`admin`]: work as the login role: creating databases, migrating them.
//! - `jobs` (feature `operator`): the scheduled operations' policies, leases and run history.
//! - `bench` (feature `operator`): benchmarks against a raw baseline, in a scratch database.
//! - [`error`]: [`StoreError`], with constraint names mapped to meaningful variants.
//! - `testing` (feature `testing`): an ephemeral cluster and a fresh database per test.

/// A method the crate's own code calls, public only with the `testing`
/// feature, for integration tests that must reach past the operations on
/// purpose (raw SQL as a tenant, a rule broken to see it caught). Without
/// it, nothing outside this crate holds a connection.
macro_rules! sealed {
    ($(#[$meta:meta])* fn $($rest:tt)*) => {
        #[cfg(feature = "testing")]
        $(#[$meta])*
        pub fn $($rest)*
        #[cfg(not(feature = "testing"))]
        $(#[$meta])*
        pub(crate) fn $($rest)*
    };
}

pub mod admin;
pub mod appender;
#[cfg(feature = "operator")]
pub mod bench;
#[cfg(feature = "operator")]
pub mod checks;
#[cfg(feature = "operator")]
pub mod citus;
pub mod context;
pub mod error;
#[cfg(feature = "operator")]
pub mod jobs;
pub mod limits;
pub mod listener;
mod metrics;
pub mod migrations;
pub mod operations;
pub mod projections;
pub mod queries;
#[cfg(feature = "testing")]
pub mod repositories;
#[cfg(not(feature = "testing"))]
pub(crate) mod repositories;
pub mod store;
pub mod unit_of_work;

#[cfg(feature = "testing")]
pub mod testing;

pub use admin::Admin;
pub use context::Profile;
pub use error::{Constraint, Quota, Result, StoreError};
pub use migrations::MigrationSet;
pub use store::{Login, Store, StoreOptions};
pub use unit_of_work::{DispatchTx, OwnerTx, TenantTx};
