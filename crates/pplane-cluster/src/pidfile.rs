//! `postmaster.pid`: the server's lock file.
//!
//! Its lines are fixed by PostgreSQL: pid, data directory, start time, port,
//! socket directory, listen address, shared-memory key, and a status word
//! (`starting`, `ready`, `stopping`). A file whose pid is not a live postgres
//! process is stale: a crash or a reboot left it behind.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFile {
    pub pid: i32,
    pub port: Option<u16>,
    pub status: String,
}

impl PidFile {
    /// Reads the lock file of a data directory, if there is one.
    pub fn read(data_dir: &Path) -> Option<PidFile> {
        let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
        let lines: Vec<&str> = text.lines().collect();
        Some(PidFile {
            pid: lines.first()?.trim().parse().ok()?,
            port: lines.get(3).and_then(|l| l.trim().parse().ok()),
            status: lines
                .get(7)
                .map(|l| l.trim().to_owned())
                .unwrap_or_default(),
        })
    }

    /// True when the pid names a running postgres process. A pid reused by an
    /// unrelated process after a reboot does not count.
    pub fn is_live_postgres(&self) -> bool {
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", self.pid));
        matches!(comm, Ok(name) if name.trim().starts_with("postgres"))
    }

    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}
