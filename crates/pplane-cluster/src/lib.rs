//! A project-local PostgreSQL cluster built from the system's own binaries.
//!
//! pplane needs a real PostgreSQL with no configuration: the embedded default
//! (`pplane db start`) and the test harness both use this crate. Nothing is
//! downloaded; the binaries are found on the machine and a missing install is
//! reported with the command that fixes it.
//!
//! # Layout
//! - [`binaries`]: finding `initdb`, `pg_ctl` and `postgres`, and their major version.
//! - [`owner`]: running those binaries as an unprivileged OS user when we are root,
//!   because `initdb` and `postgres` refuse to run as root.
//! - [`pidfile`]: reading `postmaster.pid` to tell a live server from a stale lock.
//! - [`local`]: the persistent cluster under `$PPLANE_HOME` (start, reuse, stop, status, url),
//!   one server or a Citus coordinator with workers.
//! - [`ephemeral`]: a throwaway cluster that stops and deletes itself when the process
//!   that started it exits, however it exits.
//! - [`citus`]: a throwaway Citus cluster, a coordinator and workers.
//! - [`dump`]: `pg_dump`/`pg_restore` for schema comparisons and backup checks.
//! - [`error`]: the one error type of this crate.

pub mod binaries;
pub mod citus;
pub mod dump;
pub mod ephemeral;
pub mod error;
pub mod local;
pub mod owner;
pub mod pidfile;

mod net;

pub use binaries::Binaries;
pub use citus::CitusCluster;
pub use ephemeral::EphemeralCluster;
pub use error::ClusterError;
pub use local::{LocalCluster, StartReport, Status, Topology, WorkerStatus};
