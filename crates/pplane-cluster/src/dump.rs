//! `pg_dump` and `pg_restore` from the same installation as the server
//! binaries: the production gate proves migrations reversible by comparing
//! schema dumps, and backups restorable by restoring one.

use std::path::Path;
use std::process::Command;

use crate::{Binaries, ClusterError};

/// The `public` schema's definition, without pg_dump's per-run random
/// `\restrict` guard lines, so that two dumps of one schema compare equal.
pub fn schema_dump(url: &str) -> Result<String, ClusterError> {
    let out = run(
        Command::new(Binaries::locate()?.tool("pg_dump")).args([
            "--schema-only",
            "--schema=public",
            "--dbname",
            url,
        ]),
        "pg_dump --schema-only",
    )?;
    Ok(out
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// A full backup in pg_dump's custom format; with `snapshot` (from
/// `pg_export_snapshot()` in a transaction still open), of exactly the data
/// that transaction sees.
pub fn backup(url: &str, file: &Path, snapshot: Option<&str>) -> Result<(), ClusterError> {
    let mut cmd = Command::new(Binaries::locate()?.tool("pg_dump"));
    cmd.args(["--format=custom", "--file"])
        .arg(file)
        .args(["--dbname", url]);
    if let Some(id) = snapshot {
        cmd.arg(format!("--snapshot={id}"));
    }
    run(&mut cmd, "pg_dump --format=custom").map(drop)
}

/// Restores a custom-format backup into the (empty) database of `url`,
/// stopping at the first error.
pub fn restore(file: &Path, url: &str) -> Result<(), ClusterError> {
    run(
        Command::new(Binaries::locate()?.tool("pg_restore"))
            .args(["--exit-on-error", "--dbname", url])
            .arg(file),
        "pg_restore",
    )
    .map(drop)
}

fn run(cmd: &mut Command, what: &str) -> Result<String, ClusterError> {
    let out = cmd
        .output()
        .map_err(ClusterError::io(format!("run {what}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(ClusterError::CommandFailed {
            command: what.to_owned(),
            status: out.status.to_string(),
            output: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}
