//! `pplane worker [--until-idle]`: the outbox delivery worker, and the host
//! of the scheduled jobs (unless --until-idle or --no-jobs). SIGTERM or
//! SIGINT stops claiming; deliveries in flight finish and are recorded, and
//! so does a job that is running.

use std::process::ExitCode;
use std::time::Duration;

use pplane_domain::delivery::Backoff;
use pplane_worker::{Worker, WorkerConfig};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use super::jobs;
use crate::args::{Output, WorkerArgs};
use crate::failure::Failure;
use crate::{output, target};

pub async fn run(args: WorkerArgs, out: Output) -> Result<ExitCode, Failure> {
    let defaults = WorkerConfig::default();
    let config = WorkerConfig {
        id: args.id.unwrap_or(defaults.id),
        concurrency: args.concurrency,
        batch: args.batch,
        claim_tenants: args.claim_tenants,
        lease: Duration::from_millis(args.lease_ms),
        poll: Duration::from_millis(args.poll_ms),
        backoff: Backoff {
            base: Duration::from_millis(args.retry_base_ms),
            cap: Duration::from_millis(args.retry_cap_ms),
            max_attempts: args.max_attempts,
        },
        connect_timeout: Duration::from_millis(args.connect_timeout_ms),
        timeout: Duration::from_millis(args.timeout_ms),
        nats_url: args.nats_url,
        until_idle: args.until_idle,
        wait_leases: args.wait_leases,
    };
    config.validate().map_err(Failure::Usage)?;
    // Signals first: a stop asked for while starting up is a stop too.
    let (stop, shutdown) = watch::channel(false);
    let mut term = signal(SignalKind::terminate()).map_err(|e| Failure::Operation(e.into()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Failure::Operation(e.into()))?;
    let store = target::runtime_store().await?;
    // A drain (--until-idle) is a moment's work: it runs no schedule.
    let jobs = if args.until_idle || args.no_jobs {
        None
    } else {
        Some(jobs::host(
            store.clone(),
            target::resolve().await?,
            config.id.clone(),
            Duration::from_millis(args.jobs_tick_ms),
            shutdown.clone(),
        ))
    };
    let worker = Worker::new(store, config)
        .await
        .map_err(|e| Failure::Operation(e.into()))?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("worker: stopping; finishing the deliveries in flight");
        let _ = stop.send(true);
    });
    let tally = worker
        .run(shutdown)
        .await
        .map_err(|e| Failure::Operation(e.into()))?;
    if let Some(jobs) = jobs {
        jobs.await.map_err(|e| Failure::Operation(e.into()))?;
    }
    if tally.leased_elsewhere > 0 {
        eprintln!(
            "worker: idle here, but other workers hold {} entries IN_FLIGHT under their \
             leases; they are not done. Run with --wait-leases to wait for them (or take them \
             over when a lease expires)",
            tally.leased_elsewhere
        );
    }
    if out.json {
        output::json(&serde_json::json!(tally));
    } else {
        eprintln!(
            "worker: claimed {}, delivered {}, retried {}, dead-lettered {}, stale {}",
            tally.claimed, tally.delivered, tally.retried, tally.dead_lettered, tally.stale
        );
    }
    Ok(ExitCode::SUCCESS)
}
