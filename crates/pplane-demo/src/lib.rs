//! `pplane demo`: the whole plane working, end to end, in one command.
//!
//! It makes tenants, ingests signals (one of them twice, to show
//! idempotency), drives agent runs with steps, tool calls, checkpoints, a
//! step that fails and is retried and a run that fails, and requests
//! effects; the outbox worker then delivers them to a local webhook
//! receiver (or to `--webhook URL`): most at once, one after transient
//! failures, one never (it ends as a dead letter). The CLI prints a trace,
//! a diagnosis and the production gate from what it returns.
//!
//! # Layout
//! - [`script`]: what the agents do: tenants, signals, runs, effects.
//! - this file: the options, the receiver and the worker around it.

pub mod script;

use std::sync::Arc;
use std::time::Duration;

use pplane_domain::delivery::Backoff;
use pplane_store::queries::outbox::outbox_stats_plane;
use pplane_store::{Store, StoreError};
use pplane_worker::receiver::Receiver;
use pplane_worker::{Worker, WorkerConfig, WorkerError};
use serde::Serialize;
use tokio::sync::watch;

pub use script::Driven;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub tenants: u32,
    /// Runs per tenant.
    pub runs: u32,
    /// Deliver every effect here instead of to the demo's own receiver.
    pub webhook: Option<String>,
    /// Only enqueue the effects; a separately started worker delivers them.
    pub no_worker: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            tenants: 2,
            runs: 3,
            webhook: None,
            no_worker: false,
        }
    }
}

/// What the demo did, for the report the CLI prints.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub driven: Driven,
    pub delivered: i64,
    pub dead_letters: i64,
    pub pending: i64,
    /// Requests the demo's receiver saw (0 with `--webhook`).
    pub receiver_requests: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Worker(#[from] WorkerError),
    #[error("the demo's receiver: {0}")]
    Receiver(std::io::Error),
}

/// Runs the demo on the (migrated) database of `url`, telling `progress`
/// what it does.
pub async fn run(
    url: &str,
    opts: &DemoOptions,
    progress: impl Fn(&str),
) -> Result<DemoReport, DemoError> {
    let store = Store::connect(url).await?;
    // Transient for keys with "flaky" (twice), permanent for "broken".
    let receiver = Receiver::start_with(Arc::new(|key: &str, n: usize| {
        if key.contains("broken") {
            (400, None)
        } else if key.contains("flaky") && n <= 2 {
            (503, None)
        } else {
            (204, None)
        }
    }))
    .await
    .map_err(DemoError::Receiver)?;
    let hook = opts
        .webhook
        .clone()
        .unwrap_or_else(|| receiver.url("/demo"));
    let driven = script::drive(&store, opts, &hook, &receiver, &progress).await?;

    if !opts.no_worker {
        progress("delivering effects with the outbox worker");
        deliver(&store).await?;
    }
    let mut tx = store.dispatch_tx().await?;
    let stats = outbox_stats_plane(&mut tx).await?;
    tx.commit().await?;
    store.close().await;
    Ok(DemoReport {
        driven,
        delivered: stats.delivered,
        dead_letters: stats.dead_letter,
        pending: stats.pending + stats.in_flight,
        receiver_requests: if opts.webhook.is_some() {
            0
        } else {
            receiver.received().len()
        },
    })
}

/// A worker with demo timings (retries after a fraction of a second) until
/// nothing is left to deliver or retry.
async fn deliver(store: &Store) -> Result<(), DemoError> {
    let config = WorkerConfig {
        concurrency: 2,
        poll: Duration::from_millis(100),
        timeout: Duration::from_secs(5),
        lease: Duration::from_secs(15),
        backoff: Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(1),
            max_attempts: 5,
        },
        ..WorkerConfig::default()
    };
    let worker = Worker::new(store.clone(), config).await?;
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run(shutdown).await }
    });
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut tx = store.dispatch_tx().await?;
        let stats = outbox_stats_plane(&mut tx).await?;
        tx.commit().await?;
        if stats.pending + stats.in_flight == 0 {
            break;
        }
    }
    let _ = stop.send(true);
    running.await.expect("the demo's worker")?;
    Ok(())
}
