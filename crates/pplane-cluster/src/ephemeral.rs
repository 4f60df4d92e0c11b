//! A throwaway cluster for a test process.
//!
//! The server runs under a small shell watchdog that reads its standard input,
//! which is a pipe whose only writer is this process. When the process exits,
//! normally, by panic or by SIGKILL, the kernel closes the pipe, the watchdog's
//! `read` returns, and it stops the server and deletes the directory. So a test
//! run leaves no server and no files behind, without any cleanup code having to
//! run. Durability is off (fsync, full-page writes): nothing here must survive.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

use rand::distributions::{Alphanumeric, DistString};

use crate::local::log_tail;
use crate::owner::{run, Owner};
use crate::pidfile::PidFile;
use crate::{net, Binaries, ClusterError};

const WATCHDOG: &str = r#"dir=$1; shift
"$@" </dev/null >"$dir/server.log" 2>&1 &
pid=$!
read -r _ || true
kill -INT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir""#;

#[derive(Debug)]
pub struct EphemeralCluster {
    dir: PathBuf,
    port: u16,
    bins: Binaries,
    // Held, never written: closing it is the stop signal.
    _lifeline: ChildStdin,
    _watchdog: Child,
}

impl EphemeralCluster {
    pub fn start() -> Result<EphemeralCluster, ClusterError> {
        EphemeralCluster::start_with(&[])
    }

    /// As [`EphemeralCluster::start`], with these server settings (`-c
    /// name=value`) added, e.g. `shared_preload_libraries=citus`.
    pub fn start_with(settings: &[(&str, &str)]) -> Result<EphemeralCluster, ClusterError> {
        let bins = Binaries::locate()?;
        let owner = Owner::detect()?;
        let suffix = Alphanumeric.sample_string(&mut rand::thread_rng(), 10);
        let dir = std::env::temp_dir().join(format!("pplane-pg-{}-{suffix}", std::process::id()));
        let data = dir.join("data");
        fs::create_dir_all(&dir)
            .map_err(ClusterError::io(format!("creating {}", dir.display())))?;
        owner.adopt(&dir)?;

        let mut initdb = owner.command(&bins.tool("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--auth=trust",
            "--no-sync",
        ]);
        run(initdb)?;

        // A free port can be lost to a concurrent process before the server
        // binds it; a second and third try cover that race.
        let mut last_err = None;
        for _ in 0..3 {
            match Self::spawn(&bins, &owner, &dir, settings) {
                Ok(cluster) => return Ok(cluster),
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.expect("at least one attempt"))
    }

    fn spawn(
        bins: &Binaries,
        owner: &Owner,
        dir: &std::path::Path,
        settings: &[(&str, &str)],
    ) -> Result<Self, ClusterError> {
        let data = dir.join("data");
        let port = net::free_port().map_err(ClusterError::io("finding a free port"))?;
        let mut cmd = owner.command(std::path::Path::new("sh"));
        cmd.args(["-c", WATCHDOG, "sh"])
            .arg(dir)
            .arg(bins.tool("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "synchronous_commit=off", "-c", "max_connections=300"])
            .args(
                settings
                    .iter()
                    .flat_map(|(k, v)| ["-c".to_owned(), format!("{k}={v}")]),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(ClusterError::io("starting postgres"))?;
        let lifeline = child.stdin.take().expect("stdin is piped");

        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(pid) = PidFile::read(&data) {
                if pid.is_ready() && pid.port == Some(port) {
                    return Ok(EphemeralCluster {
                        dir: dir.to_owned(),
                        port,
                        bins: bins.clone(),
                        _lifeline: lifeline,
                        _watchdog: child,
                    });
                }
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let tail = log_tail(&dir.join("server.log"));
        drop(lifeline);
        let _ = child.wait();
        Err(ClusterError::StartTimeout {
            seconds: 30,
            log: dir.join("server.log"),
            tail,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn binaries(&self) -> &Binaries {
        &self.bins
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The superuser URL of database `db` (trust authentication on loopback).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}
