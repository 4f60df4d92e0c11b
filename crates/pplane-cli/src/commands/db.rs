//! `pplane db start|stop|status|url`.

use std::process::ExitCode;

use pplane_cluster::{LocalCluster, Status};
use serde_json::json;

use crate::args::{DbAction, Output};
use crate::failure::Failure;
use crate::output;
use crate::output::outln;
use crate::target;

pub async fn run(action: DbAction, out: Output) -> Result<ExitCode, Failure> {
    let cluster = LocalCluster::from_env();
    match action {
        DbAction::Start { database } => {
            let url = target::embedded_database(&database.name).await?;
            let port = cluster.port().unwrap_or_default();
            if out.json {
                output::json(
                    &json!({ "status": "running", "port": port, "home": cluster.home(), "url": url }),
                );
            } else {
                outln!(
                    "running on 127.0.0.1:{port}, data in {}",
                    cluster.data_dir().display()
                );
            }
        }
        DbAction::Stop => {
            let cluster2 = cluster.clone();
            let was_running = tokio::task::spawn_blocking(move || cluster2.stop())
                .await
                .map_err(anyhow::Error::from)??;
            if out.json {
                output::json(&json!({ "stopped": was_running }));
            } else if was_running {
                outln!("stopped");
            } else {
                outln!("not running");
            }
        }
        DbAction::Status => {
            let status = cluster.status();
            if out.json {
                let (state, pid, port) = match status {
                    Status::NotInitialized => ("not_initialized", None, None),
                    Status::Stopped => ("stopped", None, cluster.port()),
                    Status::Running { pid, port } => ("running", Some(pid), Some(port)),
                };
                output::json(
                    &json!({ "status": state, "pid": pid, "port": port, "home": cluster.home() }),
                );
            } else {
                match status {
                    Status::NotInitialized => outln!("not initialized (run `pplane db start`)"),
                    Status::Stopped => {
                        outln!("stopped, data in {}", cluster.data_dir().display())
                    }
                    Status::Running { pid, port } => {
                        outln!("running (pid {pid}) on 127.0.0.1:{port}")
                    }
                }
            }
            if target::database_url_env().is_some() {
                eprintln!("note: DATABASE_URL is set, so other commands use that server, not this cluster");
            }
        }
        DbAction::Url { database } => {
            let url = cluster.url(&database.name).ok_or_else(|| {
                Failure::Operation(anyhow::anyhow!(
                    "there is no embedded cluster yet: run `pplane db start`"
                ))
            })?;
            if out.json {
                output::json(&json!({ "url": url }));
            } else {
                outln!("{url}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
