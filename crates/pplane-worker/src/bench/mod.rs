//! `pplane bench outbox`: deliveries per second to a local no-op webhook
//! receiver with 1 and 4 workers, and commit-to-delivery latency at a
//! steady offered load; each against the raw baseline of the same server
//! in the same run (a bare SKIP LOCKED claim-and-complete queue, no
//! delivery), in a scratch database. Then the noisy neighbour ([`noisy`]):
//! one tenant's backlog drained alone, then beside the other tenants'
//! requests alone, then beside their requests and deliveries.

mod noisy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pplane_domain::{RunId, TenantId, UserId};
use pplane_store::bench::outbox::RawQueue;
use pplane_store::bench::{BenchRow, Samples, ScratchDb};
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::ingest::{signal_ingest, SignalInput};
use pplane_store::operations::runs::run_start;
use pplane_store::operations::Origin;
use pplane_store::{Store, StoreError, StoreOptions};
use serde_json::json;
use tokio::sync::watch;

use crate::receiver::Receiver;
use crate::{Worker, WorkerConfig, WorkerError};

#[derive(Debug, Clone)]
pub struct OutboxBench {
    /// Entries waiting when the drain scenarios start.
    pub backlog: usize,
    /// Effects per second offered in the steady scenario.
    pub rate: u32,
    /// How long the steady scenario offers them.
    pub seconds: f64,
    /// Tenants requesting effects; in the noisy-neighbour scenario, the
    /// quiet ones.
    pub tenants: u32,
    /// The noisy tenant's backlog in the noisy-neighbour scenario.
    pub noisy_backlog: usize,
}

impl Default for OutboxBench {
    fn default() -> Self {
        OutboxBench {
            backlog: 4_000,
            rate: 500,
            seconds: 5.0,
            tenants: 10,
            noisy_backlog: 10_000,
        }
    }
}

/// A tenant ready to request effects to the receiver.
#[derive(Clone, Copy)]
struct Requester {
    tenant: TenantId,
    user: UserId,
    run: RunId,
}

pub async fn run(
    url: &str,
    cfg: &OutboxBench,
    progress: impl Fn(&str),
) -> Result<Vec<BenchRow>, WorkerError> {
    progress("creating a scratch database");
    let scratch = ScratchDb::create(url).await?;
    let result = measure(url, &scratch.url, cfg, &progress).await;
    scratch.drop_now().await?;
    result
}

/// The scenarios in the scratch database of `url`, on the server of
/// `server_url` (where the noisy neighbour makes a second one).
async fn measure(
    server_url: &str,
    url: &str,
    cfg: &OutboxBench,
    progress: &impl Fn(&str),
) -> Result<Vec<BenchRow>, WorkerError> {
    let store = connect(url).await?;
    let receiver = Receiver::start()
        .await
        .map_err(|e| WorkerError::Config(format!("the local receiver: {e}")))?;
    let requesters = requesters(&store, &receiver, cfg.tenants).await?;
    let raw = RawQueue::create(url, 8).await?;
    let mut rows = Vec::new();

    for workers in [1u32, 4] {
        let name = format!("outbox drain: {workers} workers, backlog {}", cfg.backlog);
        progress(&name);
        let prefix = format!("drain{workers}");
        enqueue(&store, &requesters, &prefix, cfg.backlog).await?;
        let started = Instant::now();
        drain(&store, workers).await?;
        let wall = started.elapsed();
        let ours = arrivals(&receiver, &prefix, |_| Some(started), wall);
        raw.fill(cfg.backlog as i64).await?;
        let base = raw.drain(workers, 32, None).await?;
        rows.push(BenchRow::new(
            name,
            workers,
            Some(cfg.tenants),
            &ours,
            &base,
        ));
    }

    let name = format!(
        "outbox steady {}/s: 4 workers, commit to delivery",
        cfg.rate
    );
    progress(&name);
    raw.fill(0).await?;
    let ours = steady(&store, &receiver, &requesters, cfg, progress).await?;
    let duration = Duration::from_secs_f64(cfg.seconds);
    let until = Instant::now() + duration + Duration::from_millis(500);
    let draining = {
        let raw_queue = &raw;
        async move { raw_queue.drain(4, 32, Some(until)).await }
    };
    let offering = offer(cfg.rate, duration, |_| {
        let raw_queue = &raw;
        async move { raw_queue.push().await }
    });
    let (base, offered) = tokio::join!(draining, offering);
    offered?;
    let base = base?;
    rows.push(BenchRow::new(name, 4, Some(cfg.tenants), &ours, &base));
    raw.close().await;

    let noisy = requester(&store, &receiver, cfg.tenants).await?;
    let scene = noisy::Scene {
        server_url,
        url,
        store: &store,
        receiver: &receiver,
        noisy,
        quiet: &requesters,
        backlog: cfg.noisy_backlog,
    };
    rows.extend(scene.measure(progress).await?);

    store.close().await;
    Ok(rows)
}

/// The benchmark's store on `url`: enough connections for every loop,
/// producer and served share at once.
async fn connect(url: &str) -> Result<Store, StoreError> {
    Store::connect_with(
        url,
        StoreOptions {
            max_connections: 24,
        },
    )
    .await
}

/// Tenants `0..n`, each ready to request effects to the receiver.
async fn requesters(
    store: &Store,
    receiver: &Receiver,
    n: u32,
) -> Result<Vec<Requester>, StoreError> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(requester(store, receiver, i).await?);
    }
    Ok(out)
}

async fn requester(store: &Store, receiver: &Receiver, i: u32) -> Result<Requester, StoreError> {
    let user = UserId::new();
    let tenant = store.tenant_create(&format!("bench {i}"), user).await?;
    let mut tx = store.tenant_tx(tenant, user).await?;
    let got = signal_ingest(
        &mut tx,
        &SignalInput {
            channel: "bench".into(),
            source_id: format!("bench-{i}"),
            payload: json!({}),
            domain_refs: json!({}),
            actor: "system:bench".parse().expect("an actor"),
        },
    )
    .await?;
    destination_create(
        &mut tx,
        "sink",
        &Target::Webhook(receiver.url(&format!("/t{i}"))),
    )
    .await?;
    run_start(&mut tx, got.run_id, &origin()).await?;
    tx.commit().await?;
    Ok(Requester {
        tenant,
        user,
        run: got.run_id,
    })
}

fn origin() -> Origin {
    Origin::by("system:bench".parse().expect("an actor"))
}

fn effect(r: &Requester, key: String) -> EffectInput {
    EffectInput {
        run: r.run,
        step: None,
        effect_type: "BENCH".into(),
        spec: json!({ "destination": "sink", "key": key }),
        idempotency_key: key,
    }
}

/// A backlog of `n` effects, 50 per transaction, the tenants taking turns
/// (so that the oldest entries belong to every tenant, as under real load).
async fn enqueue(
    store: &Store,
    requesters: &[Requester],
    prefix: &str,
    n: usize,
) -> Result<(), StoreError> {
    let keys: Vec<usize> = (0..n).collect();
    for (turn, chunk) in keys.chunks(50).enumerate() {
        let r = &requesters[turn % requesters.len()];
        let mut tx = store.tenant_tx(r.tenant, r.user).await?;
        for i in chunk {
            effect_request(&mut tx, &effect(r, format!("{prefix}-{i}")), &origin()).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

fn config(id: String) -> WorkerConfig {
    WorkerConfig {
        id,
        concurrency: 1,
        batch: 32,
        poll: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
        lease: Duration::from_secs(30),
        ..WorkerConfig::default()
    }
}

/// `workers` workers, one delivery loop each, until nothing is due.
async fn drain(store: &Store, workers: u32) -> Result<(), WorkerError> {
    let mut runs = Vec::new();
    for w in 0..workers {
        let c = WorkerConfig {
            until_idle: true,
            ..config(format!("bench-drain-{w}"))
        };
        let worker = Worker::new(store.clone(), c).await?;
        let (_, shutdown) = watch::channel(false);
        runs.push(tokio::spawn(async move { worker.run(shutdown).await }));
    }
    for r in runs {
        r.await.expect("a bench worker")?;
    }
    Ok(())
}

/// Commit-to-delivery latency at `cfg.rate` effects/s with 4 workers
/// waiting on notifications.
async fn steady(
    store: &Store,
    receiver: &Receiver,
    requesters: &[Requester],
    cfg: &OutboxBench,
    progress: &impl Fn(&str),
) -> Result<Samples, WorkerError> {
    let (stop, shutdown) = watch::channel(false);
    let mut runs = Vec::new();
    for w in 0..4 {
        let worker = Worker::new(store.clone(), config(format!("bench-steady-{w}"))).await?;
        let shutdown = shutdown.clone();
        runs.push(tokio::spawn(async move { worker.run(shutdown).await }));
    }
    // Let the workers start listening before the load begins.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let committed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let duration = Duration::from_secs_f64(cfg.seconds);
    let started = Instant::now();
    offer(cfg.rate, duration, |n| {
        let (store, committed) = (store.clone(), committed.clone());
        let r = requesters[n % requesters.len()];
        async move {
            let key = format!("steady-{n}");
            let mut tx = store.tenant_tx(r.tenant, r.user).await?;
            effect_request(&mut tx, &effect(&r, key.clone()), &origin()).await?;
            tx.commit().await?;
            committed
                .lock()
                .expect("commit times")
                .insert(key, Instant::now());
            Ok::<_, StoreError>(())
        }
    })
    .await?;
    let offering = started.elapsed();
    let offered = committed.lock().expect("commit times").len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.count_keyed("steady-") < offered && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = started.elapsed();
    // Whether delivery kept up with what was offered: the offer's own rate
    // (its requests commit on the same two cores) against the delivered.
    progress(&format!(
        "steady: {offered} requests committed at {:.0}/s, delivered at {:.0}/s",
        offered as f64 / offering.as_secs_f64(),
        receiver.count_keyed("steady-") as f64 / wall.as_secs_f64()
    ));
    stop.send(true).ok();
    for r in runs {
        r.await.expect("a bench worker")?;
    }
    let committed = committed.lock().expect("commit times").clone();
    Ok(arrivals(
        receiver,
        "steady-",
        |key| committed.get(key).copied(),
        wall,
    ))
}

/// Runs `op(n)` `rate` times a second for `duration`, spread over a few
/// concurrent producers so that one slow commit does not hold back the rest.
async fn offer<F, Fut>(rate: u32, duration: Duration, op: F) -> Result<(), StoreError>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    const PRODUCERS: usize = 4;
    let period = Duration::from_secs_f64(PRODUCERS as f64 / f64::from(rate.max(1)));
    let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
    let producers = (0..PRODUCERS).map(|p| {
        let op = &op;
        async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut n = p;
            while n < total {
                tick.tick().await;
                op(n).await?;
                n += PRODUCERS;
            }
            Ok::<_, StoreError>(())
        }
    });
    for result in futures::future::join_all(producers).await {
        result?;
    }
    Ok(())
}

/// First arrival of each key with `prefix`, measured from `since(key)`.
fn arrivals(
    receiver: &Receiver,
    prefix: &str,
    since: impl Fn(&str) -> Option<Instant>,
    wall: Duration,
) -> Samples {
    Samples::concurrent(latencies(receiver, prefix, since), wall)
}

/// How long after `since(key)` the first arrival of each key with `prefix`
/// came.
fn latencies(
    receiver: &Receiver,
    prefix: &str,
    since: impl Fn(&str) -> Option<Instant>,
) -> Vec<Duration> {
    receiver
        .received()
        .iter()
        .filter(|r| r.idempotency_key.starts_with(prefix) && r.earlier_with_key == 0)
        .filter_map(|r| since(&r.idempotency_key).map(|t| r.at.saturating_duration_since(t)))
        .collect()
}
