//! The plane's scheduled operations (docs/jobs.md): the outbox purge, the
//! checkpoint prune, the projection refresh and the backup verification,
//! each run at most once an interval across every process that hosts them
//! (`pplane worker`, `pplane serve --worker`, `pplane jobs run`), under a
//! lease that a crashed holder loses with its connection, each run recorded.
//!
//! # Layout
//! - [`scheduler`]: [`Jobs`], which takes a job's lease when it is due, runs it and
//!   records the run; once ([`Jobs::run_once`]) or on every tick until stopped.
//! - `work` (private): what each job does, through the store's operations.
//! - [`error`]: [`JobsError`], what keeps a job from being run at all.

pub mod error;
pub mod scheduler;
mod work;

pub use error::JobsError;
pub use scheduler::{Jobs, JobsConfig, Ran};
