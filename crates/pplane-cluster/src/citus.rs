//! A throwaway Citus cluster: a coordinator and workers, each an
//! [`EphemeralCluster`] of the system's PostgreSQL with the Citus extension
//! preloaded, gone when the process that started them exits.
//!
//! This only starts the servers. Joining them is per database (the
//! extension and the node list live in each database), which the store's
//! test harness does with SQL.

use std::path::PathBuf;

use crate::{Binaries, ClusterError, EphemeralCluster};

/// Server settings every node runs with: Citus preloaded; logical decoding
/// and replication slots for shard moves (they copy shards by logical
/// replication); prepared transactions for two-phase commits across nodes;
/// node-to-node connections without TLS (loopback, throwaway).
pub const NODE_SETTINGS: &[(&str, &str)] = &[
    ("shared_preload_libraries", "citus"),
    ("wal_level", "logical"),
    ("max_replication_slots", "20"),
    ("max_wal_senders", "20"),
    ("max_prepared_transactions", "200"),
    ("citus.node_conninfo", "sslmode=disable"),
];

#[derive(Debug)]
pub struct CitusCluster {
    pub coordinator: EphemeralCluster,
    pub workers: Vec<EphemeralCluster>,
}

impl CitusCluster {
    /// A coordinator and `workers` workers, started; refused with the way
    /// to install Citus when its library is missing.
    pub fn start(workers: usize) -> Result<CitusCluster, ClusterError> {
        citus_installed(&Binaries::locate()?)?;
        let coordinator = EphemeralCluster::start_with(NODE_SETTINGS)?;
        let workers = (0..workers)
            .map(|_| EphemeralCluster::start_with(NODE_SETTINGS))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CitusCluster {
            coordinator,
            workers,
        })
    }
}

/// Citus's library beside the server's own (Debian: `/usr/lib/postgresql/15/lib`).
pub(crate) fn citus_installed(bins: &Binaries) -> Result<(), ClusterError> {
    let lib: PathBuf = bins
        .bindir
        .parent()
        .map(|p| p.join("lib").join("citus.so"))
        .unwrap_or_default();
    if lib.is_file() {
        Ok(())
    } else {
        Err(ClusterError::CitusMissing {
            bindir: bins.bindir.clone(),
            library: lib,
        })
    }
}
