//! The noisy neighbour: tenant A's backlog drained by one worker of 4 loops
//! alone; then beside the quiet tenants' requests only, their effects
//! written to a second database on the same server that no worker serves
//! (what their transactions cost A); then beside their requests and their
//! deliveries by A's own worker; then alone once more.
//!
//! A's rate alone is both lone drains over their time together: on a
//! machine whose speed drifts by the minute, one drain before would credit
//! or charge the drift to the neighbours. Each drain beside them is set
//! against it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pplane_store::bench::outbox::outbox_vacuum;
use pplane_store::bench::{BenchRow, Samples, ScratchDb};
use pplane_store::operations::effects::effect_request;
use pplane_store::{Store, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{arrivals, config, connect, effect, enqueue, latencies, origin, requesters, Requester};
use crate::receiver::Receiver;
use crate::{Tally, Worker, WorkerConfig, WorkerError};

/// How often each quiet tenant requests an effect beside the noisy one.
const QUIET_EVERY: Duration = Duration::from_millis(100);

/// Each quiet request by key: when its commit began, and how long the
/// whole request took.
type Requested = HashMap<String, (Instant, Duration)>;

/// Where the scenario runs and who takes part.
pub(super) struct Scene<'a> {
    /// The server, where the requests-only phase makes a database of its own.
    pub server_url: &'a str,
    /// The scratch database of every other phase.
    pub url: &'a str,
    pub store: &'a Store,
    pub receiver: &'a Receiver,
    /// Tenant A, whose backlog is drained.
    pub noisy: Requester,
    pub quiet: &'a [Requester],
    pub backlog: usize,
}

/// A drain of A's backlog beside the quiet tenants' requests.
struct Beside {
    drain: Samples,
    requested: Requested,
    started: Instant,
    worker: Running,
}

struct Running {
    stop: watch::Sender<bool>,
    handle: JoinHandle<Result<Tally, WorkerError>>,
}

impl Running {
    async fn stop(self) -> Result<(), WorkerError> {
        self.stop.send(true).ok();
        self.handle.await.expect("the bench worker")?;
        Ok(())
    }
}

impl Scene<'_> {
    /// Two rows, each with A's drain beside them over its drain alone as
    /// its ratio: beside the quiet tenants' requests and deliveries (their
    /// latency from the start of each request's commit to its arrival), and
    /// beside their requests only (how long each request took).
    pub async fn measure(&self, progress: &impl Fn(&str)) -> Result<[BenchRow; 2], WorkerError> {
        let (n, tenants) = (self.backlog, self.quiet.len());
        let each = 1000 / QUIET_EVERY.as_millis();
        let full = format!(
            "outbox noisy neighbour: backlog {n} beside {tenants} tenants at {each}/s each, \
             1 worker x 4"
        );
        let apart = format!(
            "outbox noisy neighbour, their requests only: backlog {n} beside {tenants} \
             tenants' requests at {each}/s each (another database), 1 worker x 4"
        );
        progress(&format!("{full}: A alone"));
        let alone = self.drain_alone("alone").await?;
        progress(&apart);
        let (requests_only, request_times) = self.beside_requests_only().await?;
        progress(&full);
        let (beside, quiet_latency) = self.beside_quiet().await?;
        let after = self.drain_alone("after").await?;
        let alone = alone.joined(after);
        let row = |name: String, latency: &Samples, drain: &Samples| {
            let mut row = BenchRow::new(name, 4, Some(tenants as u32 + 1), latency, &alone);
            row.per_s = drain.per_second();
            row.raw_per_s = alone.per_second();
            row.ratio = row.per_s / row.raw_per_s;
            row
        };
        Ok([
            row(full, &quiet_latency, &beside),
            row(apart, &request_times, &requests_only),
        ])
    }

    /// A's backlog keyed `prefix-…`, drained with nothing beside it.
    async fn drain_alone(&self, prefix: &str) -> Result<Samples, WorkerError> {
        enqueue(self.store, &[self.noisy], prefix, self.backlog).await?;
        outbox_vacuum(self.url).await?;
        let worker = Worker::new(self.store.clone(), loops(prefix, true)).await?;
        let started = Instant::now();
        worker.run(watch::channel(false).1).await?;
        Ok(drained(self.receiver, prefix, started))
    }

    /// The quiet tenants request through `store`, a database of its own:
    /// A's worker never sees their effects, only their load on the server.
    async fn beside_requests_only(&self) -> Result<(Samples, Samples), WorkerError> {
        let aside = ScratchDb::create(self.server_url).await?;
        let measured = async {
            let store = connect(&aside.url).await?;
            let quiet = requesters(&store, self.receiver, self.quiet.len() as u32).await?;
            let beside = self.drain_beside("apart", &store, &quiet).await?;
            beside.worker.stop().await?;
            store.close().await;
            let took = beside.requested.values().map(|r| r.1).collect();
            Ok::<_, WorkerError>((
                beside.drain,
                Samples::concurrent(took, beside.started.elapsed()),
            ))
        }
        .await;
        aside.drop_now().await?;
        measured
    }

    /// The quiet tenants request beside A in A's database, and A's worker
    /// delivers theirs too; their latency counts until the last arrives.
    async fn beside_quiet(&self) -> Result<(Samples, Samples), WorkerError> {
        let beside = self.drain_beside("noisy", self.store, self.quiet).await?;
        let offered = beside.requested.len();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.receiver.count_keyed("quiet-") < offered && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        beside.worker.stop().await?;
        let latency = arrivals(
            self.receiver,
            "quiet-",
            |key| beside.requested.get(key).map(|r| r.0),
            beside.started.elapsed(),
        );
        Ok((beside.drain, latency))
    }

    /// A's backlog keyed `prefix-…`, drained by the scenario's worker while
    /// every tenant of `quiet` requests an effect through `requests` every
    /// [`QUIET_EVERY`], until A's last entry arrives. The worker is left
    /// running.
    async fn drain_beside(
        &self,
        prefix: &str,
        requests: &Store,
        quiet: &[Requester],
    ) -> Result<Beside, WorkerError> {
        let n = self.backlog;
        enqueue(self.store, &[self.noisy], prefix, n).await?;
        outbox_vacuum(self.url).await?;
        let worker = Worker::new(self.store.clone(), loops(prefix, false)).await?;
        let (stop, shutdown) = watch::channel(false);
        let handle = tokio::spawn(async move { worker.run(shutdown).await });
        let started = Instant::now();
        let (done, until) = watch::channel(false);
        // The drain is timed by the receiver's arrivals, not by this
        // watcher, which only says when to stop the quiet tenants: it counts
        // seldom, as each count walks every request received so far under
        // the lock every delivery takes.
        let keyed = format!("{prefix}-");
        let watching = async {
            while self.receiver.count_keyed(&keyed) < n {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            done.send(true).ok();
        };
        let (requested, ()) = tokio::join!(quiet_requests(requests, quiet, until), watching);
        Ok(Beside {
            drain: drained(self.receiver, prefix, started),
            requested: requested?,
            started,
            worker: Running { stop, handle },
        })
    }
}

/// Every tenant of `quiet` requests an effect every [`QUIET_EVERY`], keyed
/// `quiet-{tenant}-{k}`, until `until` turns true.
async fn quiet_requests(
    store: &Store,
    quiet: &[Requester],
    until: watch::Receiver<bool>,
) -> Result<Requested, StoreError> {
    let requested: Arc<Mutex<Requested>> = Arc::default();
    let producers = quiet.iter().enumerate().map(|(i, r)| {
        let (store, requested, mut until) = (store.clone(), requested.clone(), until.clone());
        let r = *r;
        // Spread over the period, so the requests do not come in waves.
        let offset = QUIET_EVERY / quiet.len() as u32 * i as u32;
        async move {
            tokio::time::sleep(offset).await;
            let mut tick = tokio::time::interval(QUIET_EVERY);
            let mut k = 0;
            while !*until.borrow() {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = until.changed() => break,
                }
                let key = format!("quiet-{i}-{k}");
                let began = Instant::now();
                let mut tx = store.tenant_tx(r.tenant, r.user).await?;
                effect_request(&mut tx, &effect(&r, key.clone()), &origin()).await?;
                // Timed from the commit's start: on two busy cores the
                // worker may deliver before this task runs again.
                let committing = Instant::now();
                tx.commit().await?;
                requested
                    .lock()
                    .expect("request times")
                    .insert(key, (committing, began.elapsed()));
                k += 1;
            }
            Ok::<_, StoreError>(())
        }
    });
    for produced in futures::future::join_all(producers).await {
        produced?;
    }
    let requested = requested.lock().expect("request times").clone();
    Ok(requested)
}

/// The scenario's worker: one, of 4 loops.
fn loops(prefix: &str, until_idle: bool) -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        until_idle,
        ..config(format!("bench-{prefix}"))
    }
}

/// A backlog's arrivals (keys `prefix-…`) from `started`, over the time its
/// last one took.
fn drained(receiver: &Receiver, prefix: &str, started: Instant) -> Samples {
    let since = latencies(receiver, &format!("{prefix}-"), |_| Some(started));
    let wall = since.iter().max().copied().unwrap_or_default();
    Samples::concurrent(since, wall)
}
