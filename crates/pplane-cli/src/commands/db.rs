//! `pplane db start|stop|status|url`.

use std::process::ExitCode;

use pplane_cluster::{LocalCluster, Status, Topology};
use serde_json::json;

use crate::args::{DbAction, Output};
use crate::failure::Failure;
use crate::output;
use crate::output::outln;
use crate::target;

pub async fn run(action: DbAction, out: Output) -> Result<ExitCode, Failure> {
    let cluster = LocalCluster::from_env();
    match action {
        DbAction::Start {
            database,
            citus_workers,
        } => {
            let url = target::embedded_database_as(&database.name, citus_workers.map(usize::from))
                .await?;
            let port = cluster.port().unwrap_or_default();
            let workers = cluster.worker_ports();
            if out.json {
                output::json(&json!({
                    "status": "running", "port": port, "home": cluster.home(), "url": url,
                    "topology": topology_name(&cluster), "workers": workers,
                }));
            } else if workers.is_empty() {
                outln!(
                    "running on 127.0.0.1:{port}, data in {}",
                    cluster.data_dir().display()
                );
            } else {
                outln!(
                    "Citus coordinator running on 127.0.0.1:{port}, workers on {}, data in {}",
                    ports_text(&workers),
                    cluster.home().join("pg").display()
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
            let workers = cluster.worker_statuses();
            if out.json {
                let (state, pid, port) = status_parts(&status, cluster.port());
                let workers: Vec<_> = workers
                    .iter()
                    .map(|w| {
                        let (state, pid, port) = status_parts(&w.status, w.port);
                        json!({ "worker": w.number, "status": state, "pid": pid, "port": port })
                    })
                    .collect();
                output::json(&json!({
                    "status": state, "pid": pid, "port": port, "home": cluster.home(),
                    "topology": topology_name(&cluster), "workers": workers,
                }));
            } else {
                let role = if workers.is_empty() {
                    ""
                } else {
                    "Citus coordinator: "
                };
                match status {
                    Status::NotInitialized => outln!("not initialized (run `pplane db start`)"),
                    Status::Stopped => {
                        outln!("{role}stopped, data in {}", cluster.data_dir().display())
                    }
                    Status::Running { pid, port } => {
                        outln!("{role}running (pid {pid}) on 127.0.0.1:{port}")
                    }
                }
                for w in &workers {
                    match w.status {
                        Status::Running { pid, port } => {
                            outln!(
                                "worker {}: running (pid {pid}) on 127.0.0.1:{port}",
                                w.number
                            )
                        }
                        Status::Stopped => outln!("worker {}: stopped", w.number),
                        Status::NotInitialized => outln!("worker {}: not initialized", w.number),
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

fn status_parts(status: &Status, port: Option<u16>) -> (&'static str, Option<i32>, Option<u16>) {
    match status {
        Status::NotInitialized => ("not_initialized", None, None),
        Status::Stopped => ("stopped", None, port),
        Status::Running { pid, port } => ("running", Some(*pid), Some(*port)),
    }
}

fn topology_name(cluster: &LocalCluster) -> Option<&'static str> {
    cluster.topology().map(|t| match t {
        Topology::SingleNode => "single_node",
        Topology::Citus { .. } => "citus",
    })
}

fn ports_text(ports: &[u16]) -> String {
    ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(", ")
}
