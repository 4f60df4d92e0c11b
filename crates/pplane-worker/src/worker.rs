//! The delivery loop: claim, record the dispatch, deliver outside any
//! transaction, record every outcome.
//!
//! One round, for each of `concurrency` loops:
//! 1. In one transaction: claim as `pplane_dispatcher` up to `batch` due
//!    entries from each of up to `claim_tenants` tenants, the next in turn
//!    from where the worker's round of them stands (SKIP LOCKED, attempt +
//!    1, lease); then, as the delivery principal in the tenant the claim
//!    took most from, move each of its effects to RUNNING with
//!    EFFECT_DISPATCHED. Commit: that claim and its record are one.
//! 2. Per other tenant, in a task of its own: the same record of its
//!    dispatch in a transaction of its own (one tenant's event-log head per
//!    transaction), then 3 for its entries. The loop does not wait for these
//!    tasks before its next claim (at most `claim_tenants` of them run per
//!    loop), so a backlog's pace never waits for the quiet tenants beside it.
//! 3. Deliver the tenant's entries with no transaction open, then settle
//!    each for the attempt it was claimed as (a stale attempt matches
//!    nothing) with the effect's move and its event, in one transaction of
//!    that tenant. If that fails, each entry is settled on its own.
//!
//! On Citus a claim serves one tenant (`claim_tenant_by_tenant`).
//!
//! Between rounds a loop waits for a commit's notification, which wakes one
//! loop, or for the poll. A round whose claim was full claims again at once
//! and wakes another loop; one that took less took all that was due.
//!
//! A worker that dies after 1 leaves its entries IN_FLIGHT until the lease
//! runs out (an entry whose record in 2 had not committed has its effect
//! still PENDING); then any worker claims them again as the next attempt,
//! and that record moves the effect on from wherever it stands. Receivers
//! deduplicate by idempotency key.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use pplane_domain::delivery::Attempt;
use pplane_domain::{Actor, OutboxStatus, TenantId, UserId};
use pplane_store::operations::delivery::{
    deliveries_settle, effects_dispatch, outbox_claim, outbox_claim_in, outbox_due_tenants,
    ClaimSize, Claimed, Dispatch, Rotation,
};
use pplane_store::queries::outbox::outbox_leases_held;
use pplane_store::{Profile, Store, StoreError, TenantTx};
use rand::Rng;
use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::config::WorkerConfig;

/// One tenant's claimed entries, and for each the attempt already decided
/// (an effect that may not run any more) or None.
type ClaimedBatch = (Vec<Claimed>, Vec<Option<Attempt>>);

/// Tenants a Citus claim tries, in turn order: the first may be held whole
/// by other workers' claims.
const CITUS_CLAIM_CANDIDATES: i64 = 8;
use crate::sinks::Sinks;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("invalid worker settings: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a worker did, for its exit report and for tests.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Tally {
    /// Claims made, those that found nothing included: what an idle
    /// worker costs the server (the metric `pplane_outbox_claims_total`
    /// counts only the claims that took entries, its activity).
    pub claims: u64,
    pub claimed: u64,
    pub delivered: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    /// Settlements refused because the attempt was no longer current.
    pub stale: u64,
    /// With `until_idle`: entries other workers still held under a lease
    /// when this one stopped (0 with `wait_leases`).
    pub leased_elsewhere: u64,
}

#[derive(Default)]
struct Counters {
    claims: AtomicU64,
    claimed: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    stale: AtomicU64,
    leased_elsewhere: AtomicU64,
}

pub struct Worker {
    store: Store,
    config: WorkerConfig,
    sinks: Sinks,
    principal: UserId,
    actor: Actor,
    counters: Counters,
    /// Where this worker's loops are in their round of the tenants: shared,
    /// so that each claim moves the round on for all of them.
    rotation: Mutex<Rotation>,
}

impl Worker {
    /// Checks the settings and that this login may dispatch safely.
    pub async fn new(store: Store, config: WorkerConfig) -> Result<Arc<Worker>, WorkerError> {
        config.validate().map_err(WorkerError::Config)?;
        store.dispatcher_guard().await?;
        let principal = store.delivery_principal().await?;
        let sinks = Sinks::new(&config).map_err(WorkerError::Config)?;
        Ok(Arc::new(Worker {
            store,
            config,
            sinks,
            principal,
            actor: Actor::System("outbox-worker".into()),
            counters: Counters::default(),
            rotation: Mutex::default(),
        }))
    }

    pub fn tally(&self) -> Tally {
        let c = &self.counters;
        Tally {
            claims: c.claims.load(Ordering::Relaxed),
            claimed: c.claimed.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            stale: c.stale.load(Ordering::Relaxed),
            leased_elsewhere: c.leased_elsewhere.load(Ordering::Relaxed),
        }
    }

    /// Runs until `shutdown` turns true (then finishes the rounds in
    /// flight), or, with `until_idle`, until a claim finds nothing due. A
    /// dropped sender means "never asked to stop".
    pub async fn run(
        self: &Arc<Self>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Tally, WorkerError> {
        let wake = Arc::new(Notify::new());
        let listening = tokio::spawn(listen(self.clone(), wake.clone(), shutdown.clone()));
        let loops: Vec<_> = (0..self.config.concurrency)
            .map(|_| tokio::spawn(self.clone().deliver_loop(wake.clone(), shutdown.clone())))
            .collect();
        let mut first_error = None;
        for handle in loops {
            if let Err(e) = handle.await.expect("a delivery loop panicked") {
                first_error.get_or_insert(e);
            }
        }
        listening.abort();
        match first_error {
            Some(e) => Err(e),
            None => Ok(self.tally()),
        }
    }

    async fn deliver_loop(
        self: Arc<Self>,
        wake: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), WorkerError> {
        // Other tenants' shares of this loop's claims, still being served.
        let mut beside = JoinSet::new();
        let finished = self
            .clone()
            .claims_loop(wake, &mut shutdown, &mut beside)
            .await;
        while let Some(served) = beside.join_next().await {
            resume_panic(served);
        }
        finished
    }

    async fn claims_loop(
        self: Arc<Self>,
        wake: Arc<Notify>,
        shutdown: &mut watch::Receiver<bool>,
        beside: &mut JoinSet<()>,
    ) -> Result<(), WorkerError> {
        let most_beside = self.config.claim_tenants as usize;
        while !*shutdown.borrow() {
            while let Some(served) = beside.try_join_next() {
                resume_panic(served);
            }
            while beside.len() >= most_beside {
                if let Some(served) = beside.join_next().await {
                    resume_panic(served);
                }
            }
            let notified = wake.notified();
            match self.round(beside).await {
                Ok(Round { full: true, .. }) => {
                    // It took all a claim may take: more may be due, so it
                    // claims again at once, and wakes another loop too.
                    wake.notify_one();
                }
                // Idle is known only from a claim that finds nothing.
                Ok(Round { taken, .. }) if taken > 0 && self.config.until_idle => {}
                Ok(Round { taken: 0, .. }) if self.config.until_idle && !beside.is_empty() => {
                    // Idle means nothing due and nothing of ours in flight:
                    // a share still being served may settle a retry that
                    // is due at once.
                    while let Some(served) = beside.join_next().await {
                        resume_panic(served);
                    }
                }
                Ok(Round { taken: 0, .. }) if self.config.until_idle => {
                    let held = self.leased_elsewhere().await?;
                    self.counters
                        .leased_elsewhere
                        .store(held, Ordering::Relaxed);
                    if held == 0 || !self.config.wait_leases {
                        return Ok(());
                    }
                    // Settled by their holder, or due again when a lease
                    // expires: either way a poll later tells.
                    tokio::time::sleep(self.config.poll.min(Duration::from_millis(500))).await;
                }
                // Nothing was due, or the claim took all that was: what
                // comes due next is announced by its commit's notification
                // (a retry's or an expired lease's time, by the poll).
                // Claiming again at once made every delivered entry cost
                // an empty claim as well.
                Ok(_) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(self.config.poll) => {}
                        // A dropped sender can never ask to stop: wait on.
                        _ = async {
                            if shutdown.changed().await.is_err() {
                                std::future::pending::<()>().await;
                            }
                        } => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "delivery round failed; trying again");
                    tokio::time::sleep(self.config.poll).await;
                }
            }
        }
        Ok(())
    }

    /// One claim, its deliveries and their settlement (other tenants' shares
    /// of it go on in `beside`).
    async fn round(self: &Arc<Self>, beside: &mut JoinSet<()>) -> Result<Round, StoreError> {
        let lease_ms = i64::try_from(self.config.lease.as_millis()).unwrap_or(i64::MAX);
        match self.store.profile() {
            Profile::SingleNode => self.round_across_tenants(lease_ms, beside).await,
            Profile::Citus => {
                let (claimed, refused) = self.claim_tenant_by_tenant(lease_ms).await?;
                self.claimed(claimed.len());
                let round = Round {
                    taken: claimed.len(),
                    full: claimed.len() >= self.config.batch as usize,
                };
                self.deliver(&claimed, refused).await;
                Ok(round)
            }
        }
    }

    /// One server: the dispatcher claims across tenants, and the same
    /// transaction records the dispatch of the tenant it took most from;
    /// each other tenant's is recorded in a transaction of its own, in
    /// tasks of `beside`, once the claim has committed. No transaction holds
    /// two tenants' event-log heads, so a quiet tenant's record never waits
    /// on a backlog's, and the backlog's head is held no longer than alone.
    /// Each tenant's entries are then delivered and settled on their own,
    /// so that one tenant's slow receiver never holds back another's; the
    /// round ends with the first tenant's, so a backlog is claimed again at
    /// its own pace, whatever the quiet tenants' records and receivers cost.
    async fn round_across_tenants(
        self: &Arc<Self>,
        lease_ms: i64,
        beside: &mut JoinSet<()>,
    ) -> Result<Round, StoreError> {
        let mut dispatch = self.store.dispatch_tx().await?;
        let rotation = self.rotation();
        let size = ClaimSize {
            per_tenant: self.config.batch,
            tenants: self.config.claim_tenants,
        };
        self.counters.claims.fetch_add(1, Ordering::Relaxed);
        let claimed =
            outbox_claim(&mut dispatch, &rotation, &self.config.id, size, lease_ms).await?;
        let mut groups = by_tenant(claimed);
        // The largest first: recorded in the claim's own transaction.
        groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
        let Some(first) = groups.first() else {
            dispatch.commit().await?;
            return Ok(Round::default());
        };
        let mut tx = dispatch
            .into_tenant(first[0].tenant_id, self.principal)
            .await?;
        let refused = self.dispatch(&mut tx, first).await?;
        tx.commit().await?;
        self.rotation_advance(rotation, groups.iter().map(|g| &g[0].tenant_id));
        let round = Round {
            taken: groups.iter().map(Vec::len).sum(),
            full: groups.len() >= size.tenants as usize
                || groups.iter().any(|g| g.len() >= size.per_tenant as usize),
        };
        self.claimed(round.taken);
        let mut groups = groups.into_iter();
        let first = groups.next().expect("the first group");
        for group in groups {
            let worker = self.clone();
            beside.spawn(async move { worker.serve_tenant(&group).await });
        }
        self.deliver(&first, refused).await;
        Ok(round)
    }

    /// One tenant's share of a claim that served several: records its
    /// dispatch in its own transaction, delivers, settles. If the record
    /// fails, nothing is delivered: the entries are claimed again when
    /// their leases end.
    async fn serve_tenant(&self, group: &[Claimed]) {
        let recorded = async {
            let mut tx = self
                .store
                .tenant_tx(group[0].tenant_id, self.principal)
                .await?;
            let refused = self.dispatch(&mut tx, group).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(refused)
        };
        match recorded.await {
            Ok(refused) => self.deliver(group, refused).await,
            Err(e) => {
                metrics::gauge!("pplane_outbox_leases_held").decrement(group.len() as f64);
                tracing::warn!(
                    error = %e, tenant = %group[0].tenant_id, entries = group.len(),
                    "could not record the dispatch; the entries are retried when their leases end"
                );
            }
        }
    }

    /// Delivers one tenant's claimed entries concurrently, then settles them.
    async fn deliver(&self, claimed: &[Claimed], refused: Vec<Option<Attempt>>) {
        if claimed.is_empty() {
            return;
        }
        let deliveries: Vec<_> = claimed
            .iter()
            .zip(refused)
            .map(|(entry, refused)| self.attempt(entry, refused))
            .collect();
        let attempts = join_all(deliveries).await;
        self.settle(claimed, &attempts).await;
    }

    async fn attempt(&self, entry: &Claimed, refused: Option<Attempt>) -> Attempt {
        match refused {
            Some(attempt) => attempt,
            None => self.sinks.deliver(entry).await,
        }
    }

    /// Entries that other workers hold under a lease that has not expired.
    async fn leased_elsewhere(&self) -> Result<u64, StoreError> {
        let mut dispatch = self.store.dispatch_tx().await?;
        let held = outbox_leases_held(&mut dispatch, &self.config.id).await?;
        dispatch.commit().await?;
        Ok(held)
    }

    /// Counts a claim of `taken` entries (none: not a claim).
    fn claimed(&self, taken: usize) {
        if taken == 0 {
            return;
        }
        self.counters
            .claimed
            .fetch_add(taken as u64, Ordering::Relaxed);
        metrics::counter!("pplane_outbox_claims_total").increment(1);
        metrics::counter!("pplane_outbox_claimed_entries_total").increment(taken as u64);
        metrics::gauge!("pplane_outbox_leases_held").increment(taken as f64);
    }

    /// Citus: the dispatcher reads which tenants have due entries; the
    /// claim and its record are then one transaction of the delivery
    /// principal in the first of them that still has some
    /// (pplane_store::operations::delivery::outbox_due_tenants says why).
    async fn claim_tenant_by_tenant(&self, lease_ms: i64) -> Result<ClaimedBatch, StoreError> {
        let mut dispatch = self.store.dispatch_tx().await?;
        let rotation = self.rotation();
        let tenants = outbox_due_tenants(&mut dispatch, &rotation, CITUS_CLAIM_CANDIDATES).await?;
        dispatch.commit().await?;
        for tenant in tenants {
            // Past it whether it still has entries for us or not.
            self.rotation_advance(rotation, [&tenant]);
            let mut tx = self.store.tenant_tx(tenant, self.principal).await?;
            let limit = i64::from(self.config.batch);
            self.counters.claims.fetch_add(1, Ordering::Relaxed);
            let claimed = outbox_claim_in(&mut tx, &self.config.id, limit, lease_ms).await?;
            if claimed.is_empty() {
                tx.rollback().await?;
                continue;
            }
            let refused = self.dispatch(&mut tx, &claimed).await?;
            tx.commit().await?;
            return Ok((claimed, refused));
        }
        Ok((Vec::new(), Vec::new()))
    }

    fn rotation(&self) -> Rotation {
        *self.rotation.lock().expect("the rotation")
    }

    /// Moves the round past `served`, which a claim starting `from` took.
    /// Loops that claimed at the same time started from the same place; the
    /// later advance wins, which at worst gives a tenant one turn more or
    /// less in that round.
    fn rotation_advance<'a>(&self, from: Rotation, served: impl IntoIterator<Item = &'a TenantId>) {
        let mut next = from;
        next.advance(served);
        if next != from {
            *self.rotation.lock().expect("the rotation") = next;
        }
    }

    /// Records the dispatch of one tenant's claimed entries.
    async fn dispatch(
        &self,
        tx: &mut TenantTx,
        group: &[Claimed],
    ) -> Result<Vec<Option<Attempt>>, StoreError> {
        Ok(effects_dispatch(tx, group, &self.actor)
            .await?
            .into_iter()
            .map(|dispatch| match dispatch {
                Dispatch::Recorded(_) => None,
                Dispatch::Refused(status) => Some(Attempt::Permanent {
                    reason: format!("the effect is {status}"),
                }),
            })
            .collect())
    }

    async fn settle(&self, claimed: &[Claimed], attempts: &[Attempt]) {
        // Settled or not, this worker's leases on them are over (an entry
        // left unsettled is due again when its lease ends).
        metrics::gauge!("pplane_outbox_leases_held").decrement(claimed.len() as f64);
        let Err(e) = self.settle_together(claimed, attempts).await else {
            return;
        };
        tracing::warn!(error = %e, "settling the batch together failed; settling one by one");
        for i in 0..claimed.len() {
            let one = self
                .settle_together(&claimed[i..=i], &attempts[i..=i])
                .await;
            if let Err(e) = one {
                tracing::error!(
                    error = %e, outbox_id = %claimed[i].id,
                    "could not record the outcome; the entry is retried when its lease ends"
                );
            }
        }
    }

    /// Settles entries of one tenant in one transaction.
    async fn settle_together(
        &self,
        claimed: &[Claimed],
        attempts: &[Attempt],
    ) -> Result<(), StoreError> {
        let mut tx = self
            .store
            .tenant_tx(claimed[0].tenant_id, self.principal)
            .await?;
        let decided: Vec<_> = claimed
            .iter()
            .zip(attempts)
            .map(|(entry, attempt)| {
                let jitter = rand::thread_rng().gen::<f64>();
                let n = u32::try_from(entry.attempt).unwrap_or(u32::MAX);
                let verdict = attempt.verdict(n, &self.config.backoff, jitter);
                (entry.clone(), attempt.clone(), verdict)
            })
            .collect();
        let outcomes: Vec<_> = deliveries_settle(&mut tx, &decided, &self.actor)
            .await?
            .into_iter()
            .map(|s| s.map(|s| s.entry.status))
            .collect();
        tx.commit().await?;
        let now = chrono::Utc::now();
        for (entry, status) in claimed.iter().zip(outcomes) {
            let (counter, outcome) = match status {
                Some(OutboxStatus::Delivered) => (&self.counters.delivered, "delivered"),
                Some(OutboxStatus::Pending) => (&self.counters.retried, "retry"),
                Some(_) => (&self.counters.dead_lettered, "dead_letter"),
                None => (&self.counters.stale, "stale"),
            };
            counter.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("pplane_outbox_deliveries_total", "outcome" => outcome).increment(1);
            if status == Some(OutboxStatus::Delivered) {
                // From the request's commit to its delivery being recorded.
                let waited = (now - entry.created_at).to_std().unwrap_or_default();
                metrics::histogram!("pplane_outbox_delivery_latency_seconds")
                    .record(waited.as_secs_f64());
            }
        }
        Ok(())
    }
}

/// What one round's claim took.
#[derive(Debug, Default, Clone, Copy)]
struct Round {
    taken: usize,
    /// It took as much as a claim may (a whole batch from some tenant, or
    /// as many tenants as a claim serves): more may still be due.
    full: bool,
}

/// A served share's end: a panic in it is the loop's.
fn resume_panic(served: Result<(), tokio::task::JoinError>) {
    if let Err(e) = served {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// A claim's entries by tenant, in the order the claim returned them.
fn by_tenant(claimed: Vec<Claimed>) -> Vec<Vec<Claimed>> {
    let mut groups: Vec<Vec<Claimed>> = Vec::new();
    for entry in claimed {
        match groups
            .iter_mut()
            .find(|g| g[0].tenant_id == entry.tenant_id)
        {
            Some(group) => group.push(entry),
            None => groups.push(vec![entry]),
        }
    }
    groups
}

/// Turns notifications into wake-ups, reconnecting when the listening
/// connection fails. Polling in the loops covers whatever this misses.
async fn listen(worker: Arc<Worker>, wake: Arc<Notify>, shutdown: watch::Receiver<bool>) {
    let poll = worker.config.poll;
    while !*shutdown.borrow() {
        let mut listener = match worker.store.outbox_listener().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN; polling only for now");
                tokio::time::sleep(poll * 5).await;
                continue;
            }
        };
        match listener.self_test(&worker.store).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("notifications do not arrive; relying on polling"),
            Err(e) => tracing::warn!(error = %e, "LISTEN self-test failed"),
        }
        loop {
            match listener.wait(poll).await {
                // One loop, not all of them: a commit's few entries are
                // one claim's work, and every loop waking to claim them
                // made three empty claims in four. A loop whose claim was
                // full passes the wake-up on (claims_loop).
                Ok(true) => wake.notify_one(),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the LISTEN connection failed; reconnecting");
                    break;
                }
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
