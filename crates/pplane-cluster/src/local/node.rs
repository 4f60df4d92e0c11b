//! One server of the persistent cluster: its data directory, its log and
//! the settings file we own inside it. The single-node default is one such
//! server; a Citus cluster is a coordinator and its workers, each one.

use std::fs;
use std::path::{Path, PathBuf};

use crate::owner::{run, Owner};
use crate::pidfile::PidFile;
use crate::{net, Binaries, ClusterError};

use super::{log_tail, Status};

/// The settings file we own inside the data directory; `postgresql.conf`
/// includes it so that a port change never edits the stock file again.
const CONF_FILE: &str = "pplane.conf";
pub(super) const SUPERUSER: &str = "postgres";

/// A server [`Node::start`] left running: on which port, and whether it
/// was running already.
pub(super) struct Started {
    pub port: u16,
    pub reused: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    /// How messages name it: "the cluster", "worker 2".
    pub name: String,
    /// `pg/` for the coordinator, `pg/worker-N/` for a worker.
    pub dir: PathBuf,
}

impl Node {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    pub fn exists(&self) -> bool {
        self.data_dir().join("PG_VERSION").is_file()
    }

    pub fn status(&self) -> Status {
        if !self.exists() {
            return Status::NotInitialized;
        }
        match PidFile::read(&self.data_dir()) {
            Some(pid) if pid.is_live_postgres() && pid.is_ready() => Status::Running {
                pid: pid.pid,
                port: pid.port.or_else(|| self.port()).unwrap_or_default(),
            },
            _ => Status::Stopped,
        }
    }

    /// The port recorded in our settings file.
    pub fn port(&self) -> Option<u16> {
        let conf = fs::read_to_string(self.data_dir().join(CONF_FILE)).ok()?;
        conf.lines()
            .filter_map(|l| l.strip_prefix("port = "))
            .find_map(|v| v.trim().parse().ok())
    }

    /// initdb with the superuser password in `pwfile`, then our settings
    /// file: loopback only, a free port, and `settings` (Citus's, on a
    /// Citus cluster).
    pub fn init(
        &self,
        bins: &Binaries,
        owner: &Owner,
        pwfile: &Path,
        settings: &[(&str, &str)],
    ) -> Result<(), ClusterError> {
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
        fs::create_dir_all(&self.dir)
            .map_err(ClusterError::io(format!("creating {}", self.dir.display())))?;
        owner.adopt(&self.dir)?;
        owner.check_reachable(&self.dir)?;

        let mut cmd = owner.command(&bins.tool("initdb"));
        cmd.arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C"])
            .args(["--auth=scram-sha-256", "--pwfile"])
            .arg(pwfile);
        run(cmd)?;

        let conf = data.join("postgresql.conf");
        let mut stock =
            fs::read_to_string(&conf).map_err(ClusterError::io("reading postgresql.conf"))?;
        stock.push_str(&format!("\ninclude_if_exists = '{CONF_FILE}'\n"));
        fs::write(&conf, stock).map_err(ClusterError::io("writing postgresql.conf"))?;
        let port = net::free_port().map_err(ClusterError::io("finding a free port"))?;
        let mut text = format!(
            "# Written by pplane: loopback only, no Unix socket.\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = ''\n\
             max_connections = 200\n"
        );
        for (name, value) in settings {
            text.push_str(&format!("{name} = '{value}'\n"));
        }
        self.write_conf(owner, &text)
    }

    /// Moves the server to `port`, keeping every other setting.
    pub fn port_set(&self, owner: &Owner, port: u16) -> Result<(), ClusterError> {
        let path = self.data_dir().join(CONF_FILE);
        let text = fs::read_to_string(&path)
            .map_err(ClusterError::io(format!("reading {}", path.display())))?;
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("port = ") {
                    format!("port = {port}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        self.write_conf(owner, &text)
    }

    fn write_conf(&self, owner: &Owner, text: &str) -> Result<(), ClusterError> {
        let path = self.data_dir().join(CONF_FILE);
        fs::write(&path, text).map_err(ClusterError::io(format!("writing {}", path.display())))?;
        owner.adopt(&path)
    }

    pub fn check_version(&self, bins: &Binaries) -> Result<(), ClusterError> {
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

    /// Starts the server unless it runs. A lock file left by a crash is
    /// removed; a taken port is replaced when `may_move` (a server others
    /// know by its port, a Citus node, may not move). `passfile` is the
    /// server's PGPASSFILE: how it logs in to the other nodes.
    pub fn start(
        &self,
        bins: &Binaries,
        owner: &Owner,
        may_move: bool,
        passfile: Option<&Path>,
        report: &mut super::StartReport,
    ) -> Result<Started, ClusterError> {
        let data = self.data_dir();
        if let Some(pid) = PidFile::read(&data) {
            if pid.is_live_postgres() {
                self.wait_ready(60)?;
                return Ok(Started {
                    port: pid.port.or_else(|| self.port()).unwrap_or_default(),
                    reused: true,
                });
            }
            // A crash or a reboot left the lock file; no server uses this
            // directory, so removing it is safe (PostgreSQL itself would refuse
            // to start if the pid had been reused by another process).
            fs::remove_file(data.join("postmaster.pid"))
                .map_err(ClusterError::io("removing a stale postmaster.pid"))?;
            report.notes.push(format!(
                "removed a stale postmaster.pid of {} left by process {}",
                self.name, pid.pid
            ));
        }

        let mut port = self.port().unwrap_or(0);
        if port == 0 || net::port_taken(port) {
            if port != 0 && !may_move {
                return Err(ClusterError::PortTaken {
                    node: self.name.clone(),
                    port,
                });
            }
            let old = port;
            port = net::free_port().map_err(ClusterError::io("finding a free port"))?;
            self.port_set(owner, port)?;
            if old != 0 {
                report
                    .notes
                    .push(format!("port {old} was taken; moved to port {port}"));
            }
        }

        let mut cmd = match passfile {
            // `env` rather than the environment of runuser, which may reset it.
            Some(file) => {
                let mut cmd = owner.command(Path::new("env"));
                cmd.arg(format!("PGPASSFILE={}", file.display()))
                    .arg(bins.tool("pg_ctl"));
                cmd
            }
            None => owner.command(&bins.tool("pg_ctl")),
        };
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
        Ok(Started {
            port,
            reused: false,
        })
    }

    /// Stops the server; returns whether it was running.
    pub fn stop(&self, bins: &Binaries, owner: &Owner) -> Result<bool, ClusterError> {
        if !matches!(self.status(), Status::Running { .. }) {
            return Ok(false);
        }
        let mut cmd = owner.command(&bins.tool("pg_ctl"));
        cmd.arg("stop")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w"]);
        run(cmd)?;
        Ok(true)
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
