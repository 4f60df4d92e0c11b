//! `pplane serve [--listen ADDR] [--worker] [--metrics-listen ADDR]`: the
//! HTTP API, the console and the metrics. SIGTERM or SIGINT stops accepting;
//! requests in flight finish (each is one transaction), and the worker, when
//! it runs here, finishes its deliveries in flight and its scheduled job.

use std::process::ExitCode;

use pplane_worker::{Worker, WorkerConfig};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use super::jobs;
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
    let metrics_listener = match &args.metrics_listen {
        Some(at) => Some(
            TcpListener::bind(at)
                .await
                .map_err(|e| Failure::Usage(format!("--metrics-listen {at}: {e}")))?,
        ),
        None => None,
    };
    let jobs = if args.worker && !args.no_jobs {
        let holder = format!("pplane-serve:{}", std::process::id());
        let tick = pplane_jobs::JobsConfig::default().tick;
        let url = target::resolve().await?;
        Some(jobs::host(
            store.clone(),
            url,
            holder,
            tick,
            stopped.clone(),
        ))
    } else {
        None
    };
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
    let until = |stopped: &watch::Receiver<bool>| {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    if args.metrics_per_tenant {
        pplane_server::metrics::per_tenant_enable();
    }
    let rate = |per_s: f64, burst: u32, what: &str| {
        if per_s.is_finite() && per_s > 0.0 && burst >= 1 {
            Ok(pplane_server::limits::Rate { per_s, burst })
        } else {
            Err(Failure::Usage(format!(
                "--{what}-rate must be more than 0 and --{what}-burst at least 1"
            )))
        }
    };
    let limits = pplane_server::limits::Limits {
        key: rate(args.key_rate, args.key_burst, "key")?,
        tenant: rate(args.tenant_rate, args.tenant_burst, "tenant")?,
    };
    let (app, metrics) = match metrics_listener {
        Some(listener) => {
            let at = listener
                .local_addr()
                .map_err(|e| Failure::Operation(e.into()))?;
            eprintln!("serve: metrics on http://{at}/metrics");
            let app = pplane_server::metrics_router(store.clone());
            let served = pplane_server::serve_router(app, listener, until(&stopped));
            let options = pplane_server::Options {
                metrics: pplane_server::Metrics::Apart,
                limits,
            };
            (
                pplane_server::router_with(store.clone(), options),
                Some(tokio::spawn(served)),
            )
        }
        None => {
            let options = pplane_server::Options {
                limits,
                ..Default::default()
            };
            (pplane_server::router_with(store.clone(), options), None)
        }
    };
    pplane_server::serve_router(app, listener, until(&stopped))
        .await
        .map_err(|e| Failure::Operation(e.into()))?;
    if let Some(metrics) = metrics {
        match metrics.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Failure::Operation(e.into())),
            Err(e) => return Err(Failure::Operation(e.into())),
        }
    }
    if let Some(worker) = worker {
        match worker.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(Failure::Operation(e.into())),
            Err(e) => return Err(Failure::Operation(e.into())),
        }
    }
    if let Some(jobs) = jobs {
        jobs.await.map_err(|e| Failure::Operation(e.into()))?;
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
