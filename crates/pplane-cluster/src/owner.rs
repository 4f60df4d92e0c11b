//! The OS user PostgreSQL runs as.
//!
//! `initdb` and `postgres` refuse to run as root, yet sessions, CI and many
//! containers run as root. When we are root we run every server binary through
//! `runuser -u postgres` (the Debian package creates that user) and hand it the
//! directories it writes; otherwise the binaries run as ourselves.

use std::path::Path;
use std::process::Command;

use crate::ClusterError;

const SERVICE_USER: &str = "postgres";

#[derive(Debug, Clone)]
pub enum Owner {
    /// Not root: the server runs as the invoking user.
    CurrentUser,
    /// Root: the server runs as the unprivileged `postgres` user.
    ServiceUser { uid: u32, gid: u32 },
}

impl Owner {
    pub fn detect() -> Result<Owner, ClusterError> {
        if effective_uid() != Some(0) {
            return Ok(Owner::CurrentUser);
        }
        let passwd = std::fs::read_to_string("/etc/passwd")
            .map_err(ClusterError::io("reading /etc/passwd"))?;
        passwd
            .lines()
            .map(|line| line.split(':').collect::<Vec<_>>())
            .find(|fields| fields.len() > 3 && fields[0] == SERVICE_USER)
            .and_then(|fields| {
                Some(Owner::ServiceUser {
                    uid: fields[2].parse().ok()?,
                    gid: fields[3].parse().ok()?,
                })
            })
            .ok_or(ClusterError::NoUnprivilegedUser)
    }

    /// A command that runs `program` as the cluster's owner.
    pub fn command(&self, program: &Path) -> Command {
        match self {
            Owner::CurrentUser => Command::new(program),
            Owner::ServiceUser { .. } => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", SERVICE_USER, "--"]).arg(program);
                cmd
            }
        }
    }

    /// Gives a file or directory we created to the cluster's owner.
    pub fn adopt(&self, path: &Path) -> Result<(), ClusterError> {
        match self {
            Owner::CurrentUser => Ok(()),
            Owner::ServiceUser { uid, gid } => {
                std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                    .map_err(ClusterError::io(format!("chown {}", path.display())))
            }
        }
    }

    /// Fails with a clear message when the owner cannot enter `dir`, typically
    /// because a parent directory is private to root.
    pub fn check_reachable(&self, dir: &Path) -> Result<(), ClusterError> {
        let Owner::ServiceUser { .. } = self else {
            return Ok(());
        };
        let ok = self
            .command(Path::new("sh"))
            .args([
                "-c",
                r#"test -r "$1" && test -w "$1" && test -x "$1""#,
                "sh",
            ])
            .arg(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err(ClusterError::NotReachable {
                path: dir.to_owned(),
                user: SERVICE_USER.to_owned(),
            })
        }
    }
}

/// Runs a command to completion and turns a failure into an error that
/// carries its output.
pub(crate) fn run(mut cmd: Command) -> Result<String, ClusterError> {
    let rendered = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(ClusterError::io(format!("starting {rendered}")))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(ClusterError::CommandFailed {
            command: rendered,
            status: out.status.to_string(),
            output: text.trim().to_owned(),
        })
    }
}

/// The effective uid, from `/proc/self/status` ("Uid: real effective saved fs").
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
