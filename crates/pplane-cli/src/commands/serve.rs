//! `pplane serve [--listen ADDR] [--worker]`: the HTTP API. SIGTERM or SIGINT
//! stops accepting; requests in flight finish (each is one transaction), and
//! the worker, when it runs here, finishes its deliveries in flight.

use std::process::ExitCode;

use pplane_worker::{Worker, WorkerConfig};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::args::{Output, ServeArgs};
use crate::failure::Failure;
use crate::target;

pub async fn run(args: ServeArgs, _out: Output) -> Result<ExitCode, Failure> {
    let (stop, stopped) = watch::channel(false);
    let mut term = signal(SignalKind::terminate()).map_err(|e| Failure::Operation(e.into()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Failure::Operation(e.into()))?;
    let store = target::runtime_store().await?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Failure::Usage(format!("--listen {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::Operation(e.into()))?;
    let worker = if args.worker {
        let worker = Worker::new(store.clone(), WorkerConfig::default())
            .await
            .map_err(|e| Failure::Operation(e.into()))?;
        let stopped = stopped.clone();
        Some(tokio::spawn(async move { worker.run(stopped).await }))
    } else {
        None
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("serve: stopping; finishing the requests in flight");
        let _ = stop.send(true);
    });
    eprintln!(
        "serve: listening on http://{addr}{}",
        if args.worker {
            " (with the outbox worker)"
        } else {
            ""
        }
    );
    let mut until = stopped.clone();
    let shutdown = async move {
        let _ = until.wait_for(|s| *s).await;
    };
    if args.metrics_per_tenant {
        pplane_server::metrics::per_tenant_enable();
    }
    pplane_server::serve(store.clone(), listener, shutdown)
        .await
        .map_err(|e| Failure::Operation(e.into()))?;
    if let Some(worker) = worker {
        match worker.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(Failure::Operation(e.into())),
            Err(e) => return Err(Failure::Operation(e.into())),
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
