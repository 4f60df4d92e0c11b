//! The persistent project-local cluster: `pplane db start|stop|status|url`.
//!
//! Files under `$PPLANE_HOME` (default `.pplane/`):
//! - `pg/data/`: the data directory, owned by the OS user that runs the server;
//! - `pg/server.log`: the server's log;
//! - `superuser.password`: the generated password of the `postgres` superuser,
//!   readable by the invoking user only.
//!
//! The server listens on 127.0.0.1 only, with password authentication, and
//! without a Unix socket (a socket path under a deep working directory can
//! exceed the 107-byte limit). Nothing here ever deletes a data directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rand::distributions::{Alphanumeric, DistString};

use crate::owner::{run, Owner};
use crate::pidfile::PidFile;
use crate::{net, Binaries, ClusterError};

/// The settings file we own inside the data directory; `postgresql.conf`
/// includes it so that a port change never edits the stock file again.
const CONF_FILE: &str = "pplane.conf";
const SUPERUSER: &str = "postgres";

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

/// What `start` did, so the CLI can tell the user.
#[derive(Debug, Clone)]
pub struct StartReport {
    pub initialized: bool,
    pub reused: bool,
    pub port: u16,
    /// Recoveries made on the way: a stale lock file removed, a taken port replaced.
    pub notes: Vec<String>,
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

    pub fn data_dir(&self) -> PathBuf {
        self.home.join("pg").join("data")
    }

    pub fn log_file(&self) -> PathBuf {
        self.home.join("pg").join("server.log")
    }

    pub fn status(&self) -> Status {
        let data = self.data_dir();
        if !data.join("PG_VERSION").is_file() {
            return Status::NotInitialized;
        }
        match PidFile::read(&data) {
            Some(pid) if pid.is_live_postgres() && pid.is_ready() => Status::Running {
                pid: pid.pid,
                port: pid.port.or_else(|| self.port()).unwrap_or_default(),
            },
            _ => Status::Stopped,
        }
    }

    /// Starts the cluster, creating it first if needed; reuses a running one.
    /// Concurrent starts (two commands run at once on a fresh machine) take
    /// turns on a lock file: the first creates and starts the cluster, the
    /// others then find it running and reuse it.
    pub fn start(&self) -> Result<StartReport, ClusterError> {
        let _turn = self.lock()?;
        let bins = Binaries::locate()?;
        let owner = Owner::detect()?;
        let data = self.data_dir();
        let mut report = StartReport {
            initialized: false,
            reused: false,
            port: 0,
            notes: Vec::new(),
        };

        if !data.join("PG_VERSION").is_file() {
            self.init(&bins, &owner)?;
            report.initialized = true;
        }
        self.check_version(&bins)?;

        if let Some(pid) = PidFile::read(&data) {
            if pid.is_live_postgres() {
                report.reused = true;
                report.port = pid.port.or_else(|| self.port()).unwrap_or_default();
                self.wait_ready(60)?;
                return Ok(report);
            }
            // A crash or a reboot left the lock file; no server uses this
            // directory, so removing it is safe (PostgreSQL itself would refuse
            // to start if the pid had been reused by another process).
            fs::remove_file(data.join("postmaster.pid"))
                .map_err(ClusterError::io("removing a stale postmaster.pid"))?;
            report.notes.push(format!(
                "removed a stale postmaster.pid left by process {}",
                pid.pid
            ));
        }

        let mut port = self.port().unwrap_or(0);
        if port == 0 || net::port_taken(port) {
            let old = port;
            port = net::free_port().map_err(ClusterError::io("finding a free port"))?;
            self.write_conf(&owner, port)?;
            if old != 0 {
                report
                    .notes
                    .push(format!("port {old} was taken; moved to port {port}"));
            }
        }
        report.port = port;

        let mut cmd = owner.command(&bins.tool("pg_ctl"));
        cmd.arg("start")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.log_file())
            .args(["-w", "-t", "60"]);
        if let Err(err) = run(cmd) {
            return Err(match err {
                ClusterError::CommandFailed { .. } => ClusterError::StartTimeout {
                    seconds: 60,
                    log: self.log_file(),
                    tail: log_tail(&self.log_file()),
                },
                other => other,
            });
        }
        Ok(report)
    }

    /// Stops a running cluster; returns whether one was running.
    pub fn stop(&self) -> Result<bool, ClusterError> {
        let _turn = self.lock()?;
        if !matches!(self.status(), Status::Running { .. }) {
            return Ok(false);
        }
        let bins = Binaries::locate()?;
        let owner = Owner::detect()?;
        let mut cmd = owner.command(&bins.tool("pg_ctl"));
        cmd.arg("stop")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w"]);
        run(cmd)?;
        Ok(true)
    }

    /// The superuser URL of database `db`, or None before the first start.
    pub fn url(&self, db: &str) -> Option<String> {
        let port = self.port()?;
        let password = fs::read_to_string(self.home.join("superuser.password")).ok()?;
        Some(format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{port}/{db}",
            password.trim()
        ))
    }

    /// The port recorded in our settings file.
    pub fn port(&self) -> Option<u16> {
        let conf = fs::read_to_string(self.data_dir().join(CONF_FILE)).ok()?;
        conf.lines()
            .filter_map(|l| l.strip_prefix("port = "))
            .find_map(|v| v.trim().parse().ok())
    }

    fn init(&self, bins: &Binaries, owner: &Owner) -> Result<(), ClusterError> {
        let data = self.data_dir();
        if data.exists()
            && fs::read_dir(&data)
                .map_err(ClusterError::io(format!("reading {}", data.display())))?
                .next()
                .is_some()
        {
            return Err(ClusterError::CommandFailed {
                command: "initdb".into(),
                status: "refused".into(),
                output: format!(
                    "{} is not empty but holds no PostgreSQL cluster; move it away (nothing was deleted)",
                    data.display()
                ),
            });
        }
        let pg_dir = self.home.join("pg");
        fs::create_dir_all(&pg_dir)
            .map_err(ClusterError::io(format!("creating {}", pg_dir.display())))?;
        owner.adopt(&pg_dir)?;
        owner.check_reachable(&pg_dir)?;

        let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
        let secret = self.home.join("superuser.password");
        write_private(&secret, &password)?;
        // initdb reads the password from a file the server's user can read;
        // it lives only as long as initdb runs.
        let pwfile = pg_dir.join("initdb.pw");
        write_private(&pwfile, &password)?;
        owner.adopt(&pwfile)?;

        let mut cmd = owner.command(&bins.tool("initdb"));
        cmd.arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C"])
            .args(["--auth=scram-sha-256", "--pwfile"])
            .arg(&pwfile);
        let result = run(cmd);
        let _ = fs::remove_file(&pwfile);
        result?;

        let conf = data.join("postgresql.conf");
        let mut stock =
            fs::read_to_string(&conf).map_err(ClusterError::io("reading postgresql.conf"))?;
        stock.push_str(&format!("\ninclude_if_exists = '{CONF_FILE}'\n"));
        fs::write(&conf, stock).map_err(ClusterError::io("writing postgresql.conf"))?;
        let port = net::free_port().map_err(ClusterError::io("finding a free port"))?;
        self.write_conf(owner, port)
    }

    fn write_conf(&self, owner: &Owner, port: u16) -> Result<(), ClusterError> {
        let path = self.data_dir().join(CONF_FILE);
        let text = format!(
            "# Written by pplane: loopback only, no Unix socket.\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = ''\n\
             max_connections = 200\n"
        );
        fs::write(&path, text).map_err(ClusterError::io(format!("writing {}", path.display())))?;
        owner.adopt(&path)
    }

    fn check_version(&self, bins: &Binaries) -> Result<(), ClusterError> {
        let data = self.data_dir();
        let found = fs::read_to_string(data.join("PG_VERSION"))
            .map_err(ClusterError::io("reading PG_VERSION"))?
            .trim()
            .to_owned();
        if found != bins.major {
            return Err(ClusterError::VersionMismatch {
                data_dir: data,
                found,
                expected: bins.major.clone(),
                bindir: bins.bindir.clone(),
            });
        }
        Ok(())
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

    fn wait_ready(&self, seconds: u64) -> Result<(), ClusterError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        while std::time::Instant::now() < deadline {
            if matches!(self.status(), Status::Running { .. }) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(ClusterError::StartTimeout {
            seconds,
            log: self.log_file(),
            tail: log_tail(&self.log_file()),
        })
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
