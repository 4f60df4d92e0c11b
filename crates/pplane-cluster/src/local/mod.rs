//! The persistent project-local cluster: `pplane db start|stop|status|url`.
//!
//! Files under `$PPLANE_HOME` (default `.pplane/`):
//! - `pg/data/`: the data directory, owned by the OS user that runs the server;
//! - `pg/server.log`: the server's log;
//! - `superuser.password`: the generated password of the `postgres` superuser,
//!   readable by the invoking user only.
//!
//! With `--citus-workers N` the cluster is a Citus coordinator (`pg/`) and N
//! workers (`pg/worker-1/` …), recorded in `pg/topology`. Every node has the
//! same superuser password; the nodes log in to each other with the
//! passwords in `pg/nodes.pgpass` (the servers' PGPASSFILE, readable by
//! their OS user only), never by trust.
//!
//! Every server listens on 127.0.0.1 only, with password authentication,
//! and without a Unix socket (a socket path under a deep working directory
//! can exceed the 107-byte limit). Nothing here ever deletes a data directory.

mod node;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rand::distributions::{Alphanumeric, DistString};

use crate::citus::NODE_SETTINGS;
use crate::owner::Owner;
use crate::{Binaries, ClusterError};
use node::{Node, SUPERUSER};

const TOPOLOGY_FILE: &str = "topology";
const PASSFILE: &str = "nodes.pgpass";

#[derive(Debug, Clone)]
pub struct LocalCluster {
    home: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    NotInitialized,
    Stopped,
    Running { pid: i32, port: u16 },
}

/// The shape of the cluster: one server, or a Citus coordinator and workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    SingleNode,
    Citus { workers: usize },
}

impl std::fmt::Display for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Topology::SingleNode => write!(f, "a single server"),
            Topology::Citus { workers } => {
                write!(f, "a Citus coordinator with {workers} worker(s)")
            }
        }
    }
}

/// What `start` did, so the CLI can tell the user.
#[derive(Debug, Clone)]
pub struct StartReport {
    pub initialized: bool,
    pub reused: bool,
    /// The coordinator's (or the single server's) port.
    pub port: u16,
    /// The workers' ports, in order; empty on a single server.
    pub worker_ports: Vec<u16>,
    /// Recoveries made on the way: a stale lock file removed, a taken port replaced.
    pub notes: Vec<String>,
}

/// A worker of a Citus cluster, as `db status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    pub number: usize,
    pub status: Status,
    pub port: Option<u16>,
}

impl LocalCluster {
    /// `$PPLANE_HOME`, or `.pplane/` in the working directory.
    pub fn from_env() -> LocalCluster {
        let home = std::env::var_os("PPLANE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".pplane"));
        LocalCluster::at(home)
    }

    pub fn at(home: impl Into<PathBuf>) -> LocalCluster {
        let home = home.into();
        let home = std::path::absolute(&home).unwrap_or(home);
        LocalCluster { home }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    fn coordinator(&self) -> Node {
        Node {
            name: "the cluster".into(),
            dir: self.home.join("pg"),
        }
    }

    fn worker(&self, number: usize) -> Node {
        Node {
            name: format!("worker {number}"),
            dir: self.home.join("pg").join(format!("worker-{number}")),
        }
    }

    fn workers(&self) -> Vec<Node> {
        match self.topology() {
            Some(Topology::Citus { workers }) => (1..=workers).map(|n| self.worker(n)).collect(),
            _ => Vec::new(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.coordinator().data_dir()
    }

    pub fn log_file(&self) -> PathBuf {
        self.coordinator().log_file()
    }

    /// The recorded shape; None before the first start.
    pub fn topology(&self) -> Option<Topology> {
        match fs::read_to_string(self.home.join("pg").join(TOPOLOGY_FILE)) {
            Ok(text) => text
                .trim()
                .strip_prefix("citus ")
                .and_then(|n| n.parse().ok())
                .map(|workers| Topology::Citus { workers }),
            Err(_) if self.coordinator().exists() => Some(Topology::SingleNode),
            Err(_) => None,
        }
    }

    /// The coordinator's (or the single server's) status.
    pub fn status(&self) -> Status {
        self.coordinator().status()
    }

    /// Each worker's status, in order; empty on a single server.
    pub fn worker_statuses(&self) -> Vec<WorkerStatus> {
        self.workers()
            .iter()
            .enumerate()
            .map(|(i, node)| WorkerStatus {
                number: i + 1,
                status: node.status(),
                port: node.port(),
            })
            .collect()
    }

    /// The workers' ports, in order; empty on a single server.
    pub fn worker_ports(&self) -> Vec<u16> {
        self.workers().iter().filter_map(Node::port).collect()
    }

    /// Starts the cluster, creating a single server first if there is none;
    /// reuses a running one.
    pub fn start(&self) -> Result<StartReport, ClusterError> {
        self.start_as(None)
    }

    /// As [`LocalCluster::start`], creating a Citus coordinator and
    /// `workers` workers if there is no cluster yet. An existing cluster of
    /// another shape is refused, never converted.
    pub fn start_citus(&self, workers: usize) -> Result<StartReport, ClusterError> {
        self.start_as(Some(Topology::Citus { workers }))
    }

    /// Concurrent starts (two commands run at once on a fresh machine)
    /// take turns on a lock file: the first creates and starts the
    /// cluster, the others then find it running and reuse it.
    fn start_as(&self, wanted: Option<Topology>) -> Result<StartReport, ClusterError> {
        let _turn = self.lock()?;
        let bins = Binaries::locate()?;
        let owner = Owner::detect()?;
        let mut report = StartReport {
            initialized: false,
            reused: false,
            port: 0,
            worker_ports: Vec::new(),
            notes: Vec::new(),
        };
        let topology = match (self.topology(), wanted) {
            (Some(have), Some(asked)) if have != asked => {
                return Err(ClusterError::TopologyMismatch {
                    home: self.home.clone(),
                    have: have.to_string(),
                    asked: asked.to_string(),
                })
            }
            (Some(have), _) => have,
            (None, asked) => asked.unwrap_or(Topology::SingleNode),
        };
        let citus = matches!(topology, Topology::Citus { .. });
        if citus {
            crate::citus::citus_installed(&bins)?;
        }
        // A Citus cluster is recorded before its first node exists, so that
        // a start cut short resumes the same shape.
        if let (Topology::Citus { workers }, None) = (topology, self.topology()) {
            self.init_secrets(&owner, true)?;
            let path = self.home.join("pg").join(TOPOLOGY_FILE);
            fs::write(&path, format!("citus {workers}\n"))
                .map_err(ClusterError::io(format!("writing {}", path.display())))?;
        }
        let settings: &[(&str, &str)] = if citus { NODE_SETTINGS } else { &[] };
        let passfile = citus.then(|| self.home.join("pg").join(PASSFILE));

        let mut nodes = vec![self.coordinator()];
        nodes.extend(self.workers());
        let mut all_reused = true;
        for (i, node) in nodes.iter().enumerate() {
            if !node.exists() {
                if !citus {
                    self.init_secrets(&owner, false)?;
                }
                let pwfile = self.pwfile(&owner)?;
                let made = node.init(&bins, &owner, &pwfile, settings);
                let _ = fs::remove_file(&pwfile);
                made?;
                report.initialized = true;
            }
            node.check_version(&bins)?;
            // The workers are known to the coordinator by their ports, and
            // the coordinator to the workers by its own: a Citus node stays put.
            let started = node.start(&bins, &owner, !citus, passfile.as_deref(), &mut report)?;
            all_reused &= started.reused;
            if i == 0 {
                report.port = started.port;
            } else {
                report.worker_ports.push(started.port);
            }
        }
        report.reused = all_reused;
        Ok(report)
    }

    /// Stops every node (workers first); returns whether any was running.
    pub fn stop(&self) -> Result<bool, ClusterError> {
        let _turn = self.lock()?;
        if self.topology().is_none() {
            return Ok(false);
        }
        let bins = Binaries::locate()?;
        let owner = Owner::detect()?;
        let mut stopped = false;
        for node in self.workers().iter().chain([&self.coordinator()]) {
            stopped |= node.stop(&bins, &owner)?;
        }
        Ok(stopped)
    }

    /// The superuser URL of database `db`, or None before the first start.
    pub fn url(&self, db: &str) -> Option<String> {
        let port = self.port()?;
        let password = self.superuser_password()?;
        Some(format!(
            "postgres://{SUPERUSER}:{password}@127.0.0.1:{port}/{db}"
        ))
    }

    /// The password the nodes of a Citus cluster give for the plane's own
    /// logins when they connect to each other; None on a single server.
    pub fn node_password(&self) -> Option<String> {
        let text = fs::read_to_string(self.home.join("pg").join(PASSFILE)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("*:*:*:*:"))
            .map(str::to_owned)
    }

    /// The port recorded in our settings file.
    pub fn port(&self) -> Option<u16> {
        self.coordinator().port()
    }

    fn superuser_password(&self) -> Option<String> {
        fs::read_to_string(self.home.join("superuser.password"))
            .ok()
            .map(|p| p.trim().to_owned())
    }

    /// The superuser's password (every node's), and on Citus the nodes'
    /// password file: the superuser's line first, then one password for
    /// any other login (the plane's roles, given it by the store).
    fn init_secrets(&self, owner: &Owner, citus: bool) -> Result<(), ClusterError> {
        let pg_dir = self.home.join("pg");
        fs::create_dir_all(&pg_dir)
            .map_err(ClusterError::io(format!("creating {}", pg_dir.display())))?;
        owner.adopt(&pg_dir)?;
        owner.check_reachable(&pg_dir)?;
        let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
        write_private(&self.home.join("superuser.password"), &password)?;
        if citus {
            let nodes = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
            let passfile = pg_dir.join(PASSFILE);
            write_private(
                &passfile,
                &format!("*:*:*:{SUPERUSER}:{password}\n*:*:*:*:{nodes}\n"),
            )?;
            owner.adopt(&passfile)?;
        }
        Ok(())
    }

    /// initdb reads the password from a file the server's user can read;
    /// it lives only as long as initdb runs.
    fn pwfile(&self, owner: &Owner) -> Result<PathBuf, ClusterError> {
        let password = self.superuser_password().ok_or_else(|| ClusterError::Io {
            context: format!("reading {}", self.home.join("superuser.password").display()),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        let pwfile = self.home.join("pg").join("initdb.pw");
        write_private(&pwfile, &password)?;
        owner.adopt(&pwfile)?;
        Ok(pwfile)
    }

    /// An exclusive lock on `$PPLANE_HOME/cluster.lock`, held until dropped.
    fn lock(&self) -> Result<fs::File, ClusterError> {
        fs::create_dir_all(&self.home).map_err(ClusterError::io(format!(
            "creating {}",
            self.home.display()
        )))?;
        let path = self.home.join("cluster.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ClusterError::io(format!("opening {}", path.display())))?;
        file.lock()
            .map_err(ClusterError::io(format!("locking {}", path.display())))?;
        Ok(file)
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), ClusterError> {
    fs::write(path, text).map_err(ClusterError::io(format!("writing {}", path.display())))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(ClusterError::io(format!("chmod {}", path.display())))
}

/// The last lines of a server log, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
