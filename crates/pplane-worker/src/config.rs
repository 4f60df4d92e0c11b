//! How a worker runs: its identity, parallelism, lease, timeouts and backoff.

use std::time::Duration;

use pplane_domain::delivery::Backoff;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Written as the lease owner of every entry this worker claims.
    pub id: String,
    /// Delivery loops in this process; each claims and delivers its own batches.
    pub concurrency: usize,
    /// Entries one claim takes from one tenant.
    pub batch: u32,
    /// Tenants one claim serves, a batch each, in turn (docs/outbox.md,
    /// "Taking turns"). On Citus a claim serves one.
    pub claim_tenants: u32,
    /// How long a claim is exclusive. A worker that dies loses its entries
    /// to others once it runs out.
    pub lease: Duration,
    /// How long to wait for a notification before looking anyway.
    pub poll: Duration,
    pub backoff: Backoff,
    pub connect_timeout: Duration,
    /// The whole delivery of one entry, from connecting to the answer.
    pub timeout: Duration,
    /// The NATS server of JetStream destinations.
    pub nats_url: Option<String>,
    /// Exit once nothing is due, instead of waiting for more.
    pub until_idle: bool,
    /// With `until_idle`: while other workers hold entries under a lease,
    /// wait until they settle them or their leases expire (and this worker
    /// takes them over), instead of leaving them.
    pub wait_leases: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: default_id(),
            concurrency: 1,
            batch: 32,
            claim_tenants: 8,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            nats_url: None,
            until_idle: false,
            wait_leases: false,
        }
    }
}

impl WorkerConfig {
    /// Refuses settings under which one delivery could outlive its lease:
    /// another worker would then deliver the same entry at the same time.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 || self.batch == 0 || self.claim_tenants == 0 {
            return Err("concurrency, batch and claim tenants must be at least 1".into());
        }
        if self.lease < self.timeout * 2 {
            return Err(format!(
                "the lease ({:?}) must be at least twice the delivery timeout ({:?}), \
                 so that no delivery outlives its claim",
                self.lease, self.timeout
            ));
        }
        if self.backoff.max_attempts == 0 || self.backoff.base.is_zero() {
            return Err("max attempts and the backoff base must be above zero".into());
        }
        if self.id.is_empty() || self.id.len() > 100 {
            return Err("the worker id must be 1 to 100 characters".into());
        }
        Ok(())
    }
}

/// host:pid:random, unique per process and readable in `outbox list`.
fn default_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().chars().take(40).collect::<String>())
        .unwrap_or_else(|_| "host".into());
    let tag = &uuid::Uuid::now_v7().simple().to_string()[24..];
    format!("worker:{host}:{}:{tag}", std::process::id())
}
