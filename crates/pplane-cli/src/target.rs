//! Which database a command works on: `DATABASE_URL` when set, otherwise the
//! embedded cluster under `$PPLANE_HOME`, started (or reused) on demand.

use pplane_cluster::LocalCluster;
use pplane_store::{citus, Admin, Store};

use crate::failure::Failure;

/// The database the embedded default uses.
pub const EMBEDDED_DATABASE: &str = "pplane";

pub fn database_url_env() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// The URL to work on, starting the embedded cluster if that is the target.
pub async fn resolve() -> Result<String, Failure> {
    if let Some(url) = database_url_env() {
        return Ok(url);
    }
    embedded_database(EMBEDDED_DATABASE).await
}

/// Starts (or reuses) the embedded cluster and makes sure `name` exists on it.
pub async fn embedded_database(name: &str) -> Result<String, Failure> {
    embedded_database_as(name, None).await
}

/// As [`embedded_database`]; `citus_workers` makes a new cluster a Citus
/// coordinator with that many workers. On a Citus cluster the database is
/// made on every node and joined, and the plane's roles can log in from
/// node to node.
pub async fn embedded_database_as(
    name: &str,
    citus_workers: Option<usize>,
) -> Result<String, Failure> {
    let cluster = LocalCluster::from_env();
    let report = tokio::task::spawn_blocking({
        let cluster = cluster.clone();
        move || match citus_workers {
            Some(workers) => cluster.start_citus(workers),
            None => cluster.start(),
        }
    })
    .await
    .map_err(anyhow::Error::from)??;
    if report.initialized {
        eprintln!(
            "created the embedded PostgreSQL cluster in {}",
            cluster.home().display()
        );
    }
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    let missing = || {
        Failure::Operation(anyhow::anyhow!(
            "the embedded cluster has no credentials; remove {} and start again",
            cluster.home().display()
        ))
    };
    let server = cluster.url("postgres").ok_or_else(missing)?;
    let url = cluster.url(name).ok_or_else(missing)?;
    if report.worker_ports.is_empty() {
        let mut admin = Admin::connect(&server).await?;
        admin.database_ensure(name).await?;
        admin.close().await?;
    } else {
        let workers: Vec<(String, u16)> = report
            .worker_ports
            .iter()
            .map(|port| ("127.0.0.1".to_owned(), *port))
            .collect();
        citus::citus_database_ensure(&server, &workers, name).await?;
        citus::citus_logins_ensure(&url, &cluster.node_password().ok_or_else(missing)?).await?;
    }
    Ok(url)
}

/// The runtime store on the resolved database. A superuser login is accepted
/// (runtime work still switches to pplane_app), but it deserves a warning.
pub async fn runtime_store() -> Result<Store, Failure> {
    let store = Store::connect(&resolve().await?).await?;
    if store.login().superuser && database_url_env().is_some() {
        eprintln!(
            "warning: logged in as superuser {}; runtime work runs as pplane_app, but a dedicated login is safer",
            store.login().user
        );
    }
    Ok(store)
}

/// How to run this very binary from the current directory, for the commands
/// pplane prints for the user to paste: `pplane` when that is what `PATH`
/// finds, otherwise its path (relative when it is below the current
/// directory, as `target/release/pplane` is after `cargo run`).
pub fn self_command() -> String {
    let Ok(exe) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return "pplane".into();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("pplane"))
            .filter_map(|candidate| std::fs::canonicalize(candidate).ok())
            .next()
            .is_some_and(|found| found == exe)
    });
    if on_path {
        return "pplane".into();
    }
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| exe.strip_prefix(cwd).ok().map(|p| p.to_path_buf()));
    let path = relative.unwrap_or(exe).display().to_string();
    if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        path
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    }
}
