//! Where the PostgreSQL server binaries are, and which major version they are.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ClusterError;

/// A directory holding `initdb`, `pg_ctl`, `postgres` and `pg_dump` of one version.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub bindir: PathBuf,
    /// The major version, e.g. "15", compared with a data directory's `PG_VERSION`.
    pub major: String,
}

impl Binaries {
    /// Looks, in order, at `$PPLANE_PG_BINDIR`, `pg_config --bindir`, the `PATH`,
    /// and the newest `/usr/lib/postgresql/*/bin`. A `PATH` entry must hold a real
    /// `pg_ctl` too, which rules out Debian's `pg_wrapper` shims in /usr/bin.
    /// An explicit `$PPLANE_PG_BINDIR` is used alone: a wrong setting is an
    /// error, not a silent fall-back to other binaries.
    pub fn locate() -> Result<Binaries, ClusterError> {
        if let Some(dir) = std::env::var_os("PPLANE_PG_BINDIR") {
            let dir = PathBuf::from(dir);
            return Binaries::first_of(vec![dir.clone()])
                .map_err(|_| ClusterError::BinDirInvalid { dir });
        }
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
            if out.status.success() {
                candidates.push(String::from_utf8_lossy(&out.stdout).trim().into());
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path));
        }
        candidates.extend(debian_bindirs());
        Binaries::first_of(candidates)
    }

    fn first_of(candidates: Vec<PathBuf>) -> Result<Binaries, ClusterError> {
        candidates
            .into_iter()
            .find(|dir| is_server_bindir(dir))
            .map(|bindir| {
                let major = major_version(&bindir).unwrap_or_default();
                Binaries { bindir, major }
            })
            .ok_or(ClusterError::BinariesNotFound)
    }

    pub fn tool(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

fn is_server_bindir(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|tool| dir.join(tool).is_file())
}

/// `/usr/lib/postgresql/<major>/bin`, newest major first.
fn debian_bindirs() -> Vec<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    dirs.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    dirs.into_iter().map(|(_, dir)| dir).collect()
}

/// Parses "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" into "15".
fn major_version(bindir: &Path) -> Option<String> {
    let out = Command::new(bindir.join("postgres"))
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().nth(2)?;
    Some(version.split('.').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_system_binaries_and_their_major_version() {
        let bins = Binaries::locate().expect("PostgreSQL is installed on this machine");
        assert!(bins.tool("initdb").is_file());
        assert!(bins.major.parse::<u32>().expect("numeric major") >= 13);
    }

    #[test]
    fn no_binaries_says_how_to_install_them() {
        let err = Binaries::first_of(vec![PathBuf::from("/nonexistent")]).unwrap_err();
        assert!(matches!(err, ClusterError::BinariesNotFound));
        assert!(
            err.to_string().contains("apt-get install postgresql"),
            "{err}"
        );
    }
}
