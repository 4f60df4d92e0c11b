//! A plane with one tenant, a run, and destinations; workers with test
//! timings; and entry counts read straight from the database.

use std::sync::Arc;
use std::time::Duration;

use pplane_domain::delivery::Backoff;
use pplane_domain::{RunId, TenantId, UserId};
use pplane_store::checks::data::data_check;
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::Origin;
use pplane_store::testing::citus::CitusDb;
use pplane_store::testing::run_started;
use pplane_store::testing::{Scratch, TestDb};
use pplane_store::Store;
use pplane_worker::{Tally, Worker, WorkerConfig};
use serde_json::json;
use tokio::sync::watch;

pub struct Plane<D: Scratch = TestDb> {
    pub db: D,
    pub store: Store,
    pub tenant: TenantId,
    pub user: UserId,
    pub run: RunId,
}

impl Plane {
    pub async fn new() -> Plane {
        let db = TestDb::migrated().await;
        let store = db.store().await;
        let (tenant, user) = db.tenant(&store).await;
        Plane::with(db, store, tenant, user).await
    }
}

impl Plane<CitusDb> {
    /// The same plane on a three-node Citus cluster (migration 14).
    pub async fn on_citus() -> Plane<CitusDb> {
        let db = CitusDb::migrated().await;
        let store = db.store(10).await;
        let (tenant, user) = db.tenant(&store).await;
        Plane::with(db, store, tenant, user).await
    }
}

impl<D: Scratch> Plane<D> {
    /// A run started in `tenant`, ready to request effects.
    async fn with(db: D, store: Store, tenant: TenantId, user: UserId) -> Plane<D> {
        let run = run_started(&store, tenant, user, &uuid::Uuid::now_v7().to_string()).await;
        Plane {
            db,
            store,
            tenant,
            user,
            run,
        }
    }

    /// Registers a destination; returns the webhook's signing secret.
    pub async fn destination(&self, name: &str, target: Target) -> Option<String> {
        let mut tx = self.store.tenant_tx(self.tenant, self.user).await.unwrap();
        let created = destination_create(&mut tx, name, &target).await.unwrap();
        tx.commit().await.unwrap();
        created.signing_secret
    }

    /// Requests effects `keys` to `destination`, in one transaction.
    pub async fn request(&self, destination: &str, keys: &[String]) {
        let own = Neighbour {
            tenant: self.tenant,
            user: self.user,
            run: self.run,
        };
        self.request_in(&own, destination, keys).await;
    }

    /// Another tenant of the same plane, with a run and a webhook
    /// destination `destination` to `url`.
    pub async fn neighbour(&self, destination: &str, url: String) -> Neighbour {
        let user = UserId::new();
        let tenant = self.store.tenant_create("neighbour", user).await.unwrap();
        let run = run_started(&self.store, tenant, user, &uuid::Uuid::now_v7().to_string()).await;
        let mut tx = self.store.tenant_tx(tenant, user).await.unwrap();
        destination_create(&mut tx, destination, &Target::Webhook(url))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        Neighbour { tenant, user, run }
    }

    /// Requests effects `keys` to `destination` in `who`'s tenant, in one
    /// transaction.
    pub async fn request_in(&self, who: &Neighbour, destination: &str, keys: &[String]) {
        let mut tx = self.store.tenant_tx(who.tenant, who.user).await.unwrap();
        for key in keys {
            effect_request(
                &mut tx,
                &EffectInput {
                    run: who.run,
                    step: None,
                    effect_type: "ORDER_SHIPPED".into(),
                    idempotency_key: key.clone(),
                    spec: json!({ "destination": destination, "order": key }),
                },
                &origin(),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }

    /// Entries by status, read as the login role.
    pub async fn count(&self, status: &str) -> i64 {
        self.db
            .scalar(&format!(
                "SELECT count(*) FROM outbox_events WHERE status = '{status}'"
            ))
            .await
    }

    /// The data-quality gate over everything the test wrote.
    pub async fn assert_data_gate_passes(&self) {
        let report = data_check(&mut self.db.admin().await).await.unwrap();
        let failures: Vec<_> = report.failures().map(|r| (&r.check, &r.evidence)).collect();
        assert!(report.passed(), "{failures:#?}");
    }

    /// Runs a worker until nothing is due.
    pub async fn drain(&self, config: WorkerConfig) -> Tally {
        let worker = Worker::new(
            self.store.clone(),
            WorkerConfig {
                until_idle: true,
                ..config
            },
        )
        .await
        .unwrap();
        let (_, shutdown) = watch::channel(false);
        worker.run(shutdown).await.unwrap()
    }

    /// A worker running in the background until the returned sender says stop.
    pub async fn spawn(
        &self,
        config: WorkerConfig,
    ) -> (watch::Sender<bool>, tokio::task::JoinHandle<Tally>) {
        let worker: Arc<Worker> = Worker::new(self.store.clone(), config).await.unwrap();
        let (stop, shutdown) = watch::channel(false);
        let handle = tokio::spawn(async move { worker.run(shutdown).await.unwrap() });
        (stop, handle)
    }
}

/// A tenant beside the plane's own, ready to request effects.
pub struct Neighbour {
    pub tenant: TenantId,
    pub user: UserId,
    pub run: RunId,
}

pub fn origin() -> Origin {
    Origin::by("agent:planner".parse().unwrap())
}

pub fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Quick timings: millisecond backoff, a short lease, a fast poll.
pub fn quick(max_attempts: u32) -> WorkerConfig {
    WorkerConfig {
        concurrency: 2,
        batch: 8,
        lease: Duration::from_secs(4),
        poll: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        backoff: Backoff {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(20),
            max_attempts,
        },
        ..WorkerConfig::default()
    }
}

/// Polls `check` until it holds or `within` passes.
pub async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polling once a minute: within a test only a commit's notification wakes
/// the worker.
pub fn notified_only(config: WorkerConfig) -> WorkerConfig {
    WorkerConfig {
        poll: Duration::from_secs(60),
        lease: Duration::from_secs(120),
        ..config
    }
}
