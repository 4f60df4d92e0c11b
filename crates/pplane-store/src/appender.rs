//! Group commit for event appends.
//!
//! Callers of [`Store::events_append`](crate::Store::events_append) hand their
//! events to an appender task. It takes whatever requests are waiting (up to
//! [`MAX_BATCH`]), merges those of the same tenant and principal, orders the
//! groups by tenant (one fixed order in which a batch locks head rows), and
//! appends them through `event_append_batch` (migration 6) in one transaction,
//! or in two tenant-disjoint ones side by side when the batch spans many
//! tenants: one round trip and one commit per lane instead of three round
//! trips and a commit per event. Positions stay gap-free and in commit order, because each
//! tenant's head row is still incremented inside the committing transaction.
//!
//! A lane fails as a whole; when it does, its requests are retried one by
//! one, so each caller gets its own result and one bad request (a version
//! conflict, a non-member) never fails its neighbours. Retrying cannot store
//! an event twice: event ids are primary keys.
//!
//! The task runs on the Tokio runtime of the first call and ends when every
//! clone of the `Store` is dropped.

use std::collections::BTreeMap;

use pplane_domain::{TenantId, UserId, EVENT_SCHEMA_VERSION};
use serde_json::{json, Value};
use sqlx::{Executor, PgPool, Row};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::context::Profile;
use crate::limits::{check_size, EVENT_DATA_MAX};
use crate::repositories::events::NewEvent;
use crate::{Result, StoreError};

/// The most requests one batch takes.
pub const MAX_BATCH: usize = 256;
/// Scheduler yields without a new request before a batch goes.
const LINGER_ROUNDS: u32 = 2;
/// Fewest tenants in a batch for it to go as two lanes: below this, the
/// second transaction's fixed cost outweighs what the second core saves.
const LANE_MIN_TENANTS: usize = 4;

struct Request {
    tenant: TenantId,
    user: UserId,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Vec<i64>>>,
}

/// One appender task. Measured on 2 cores with `pplane bench append` (8
/// writers over 50 tenants, ratio to raw INSERT): two tasks with tenant-sharded
/// queues 0.49-0.53, two sharing one queue 0.55-0.66, one task 0.55-0.69. With
/// one task a batch gathers nearly every waiting writer, and one tenant's
/// appends never wait on its head row across batches. Its two lanes came
/// out ahead once the pool stopped pinging before every acquire
/// (docs/events.md).
#[derive(Debug, Clone)]
pub(crate) struct Appender {
    queue: mpsc::Sender<Request>,
}

impl Appender {
    pub(crate) fn start(target: Target) -> Appender {
        let (queue, receiver) = mpsc::channel::<Request>(MAX_BATCH * 4);
        tokio::spawn(worker(target, receiver));
        Appender { queue }
    }

    pub(crate) async fn append(
        &self,
        tenant: TenantId,
        user: UserId,
        events: Vec<NewEvent>,
    ) -> Result<Vec<i64>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        for e in &events {
            check_size("event_data", &e.data, EVENT_DATA_MAX)?;
        }
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::Internal("the event appender has stopped".into());
        self.queue
            .send(Request {
                tenant,
                user,
                events,
                reply,
            })
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

/// Where batches go and how their transactions begin.
#[derive(Debug)]
pub(crate) struct Target {
    pub pool: PgPool,
    pub profile: Profile,
    /// The statement that switches to the runtime role, if the login is not
    /// that role itself.
    pub role: Option<String>,
}

async fn worker(target: Target, mut receiver: mpsc::Receiver<Request>) {
    loop {
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut batch = vec![first];
        // Callers whose previous append just finished are about to send
        // their next one: yield a few times to let them, rather than commit a
        // batch of one and make them wait for a whole round.
        let mut idle_rounds = 0;
        while batch.len() < MAX_BATCH && idle_rounds < LINGER_ROUNDS {
            let before = batch.len();
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            idle_rounds = if batch.len() == before {
                idle_rounds + 1
            } else {
                0
            };
            tokio::task::yield_now().await;
        }
        match lanes_split(batch) {
            (lane, None) => settle(&target, lane).await,
            (low, Some(high)) => {
                tokio::join!(settle(&target, low), settle(&target, high));
            }
        }
    }
}

/// Cuts a batch of many tenants in two tenant-disjoint lanes, which commit
/// side by side on two connections: a transaction runs on one backend, so
/// one lane leaves the server's other core idle. Disjoint lanes never wait
/// on each other's head rows, and the next batch goes only when both have
/// committed, so no batch waits on another's.
fn lanes_split(batch: Vec<Request>) -> (Vec<Request>, Option<Vec<Request>>) {
    let mut tenants: Vec<TenantId> = batch.iter().map(|r| r.tenant).collect();
    tenants.sort();
    tenants.dedup();
    if tenants.len() < LANE_MIN_TENANTS {
        return (batch, None);
    }
    let cut = tenants[tenants.len() / 2];
    let (low, high) = batch.into_iter().partition(|r| r.tenant < cut);
    (low, Some(high))
}

/// Appends one lane and answers its callers; a failed lane is retried one
/// request at a time so that each caller gets its own result.
async fn settle(target: &Target, lane: Vec<Request>) {
    match append_batch(target, &lane).await {
        Ok(results) => {
            for (request, seqs) in lane.into_iter().zip(results) {
                let _ = request.reply.send(Ok(seqs));
            }
        }
        Err(err) if lane.len() == 1 => {
            let request = lane.into_iter().next().expect("one request");
            let _ = request.reply.send(Err(err));
        }
        Err(_) => {
            for request in lane {
                let result = append_batch(target, std::slice::from_ref(&request)).await;
                let _ = request
                    .reply
                    .send(result.map(|mut r| r.pop().unwrap_or_default()));
            }
        }
    }
}

/// Appends every request of `batch` in one transaction; returns each
/// request's sequence numbers, in request order.
async fn append_batch(target: &Target, batch: &[Request]) -> Result<Vec<Vec<i64>>> {
    // Group by (tenant, principal), in tenant order; remember where each
    // request's events land inside its group.
    let mut groups: BTreeMap<(Uuid, Uuid), Vec<usize>> = BTreeMap::new();
    for (i, r) in batch.iter().enumerate() {
        groups
            .entry((r.tenant.as_uuid(), r.user.as_uuid()))
            .or_default()
            .push(i);
    }
    let mut placement = vec![(0usize, 0usize); batch.len()];
    let mut document = Vec::with_capacity(groups.len());
    for (g, ((tenant, user), members)) in groups.iter().enumerate() {
        let mut events = Vec::new();
        for &i in members {
            placement[i] = (g, events.len());
            for e in &batch[i].events {
                events.push(event_json(e, events.len() + 1));
            }
        }
        document.push(json!({ "tenant_id": tenant, "user_id": user, "events": events }));
    }

    let started = std::time::Instant::now();
    let rows = execute(target, &Value::Array(document).to_string()).await?;
    let events = batch.iter().map(|r| r.events.len()).sum();
    crate::metrics::appended("group_commit", events, started.elapsed());

    let mut bases = vec![0i64; groups.len()];
    for (g, base) in rows {
        bases[g as usize] = base;
    }
    Ok(batch
        .iter()
        .zip(placement)
        .map(|(r, (g, offset))| {
            (1..=r.events.len())
                .map(|k| bases[g] + (offset + k) as i64)
                .collect()
        })
        .collect())
}

/// The whole transaction in one round trip: BEGIN, the role, the call and
/// COMMIT travel as one simple query (three on Citus, below). The document
/// goes in dollar-quoted under a random tag that it does not contain, so
/// nothing in it can end the literal.
async fn execute(target: &Target, document: &str) -> Result<Vec<(i32, i64)>> {
    let tag = loop {
        let tag = format!("$pp{}$", &Uuid::now_v7().simple().to_string()[20..]);
        if !document.contains(&tag) {
            break tag;
        }
    };
    let begin = match &target.role {
        Some(role) => format!("BEGIN; {role}"),
        None => "BEGIN".to_string(),
    };
    let call = format!(
        "SELECT group_ordinal, base_sequence FROM event_append_batch({tag}{document}{tag}::jsonb)"
    );
    let mut conn = target.pool.acquire().await?;
    // A &str with no arguments runs as a simple query: all statements at
    // once. On Citus the call runs in a transaction begun by a query of its
    // own: with BEGIN, the call and COMMIT in one query, concurrent batches
    // were seen to stage their rows for the shard under one name and insert
    // each other's (a duplicate key, caught by the event log's keys).
    let result = match target.profile {
        Profile::SingleNode => {
            conn.fetch_all(format!("{begin}; {call}; COMMIT").as_str())
                .await
        }
        Profile::Citus => match conn.execute(begin.as_str()).await {
            Ok(_) => match conn.fetch_all(call.as_str()).await {
                Ok(rows) => conn.execute("COMMIT").await.map(|_| rows),
                Err(err) => Err(err),
            },
            Err(err) => Err(err),
        },
    };
    match result {
        Ok(rows) => rows
            .iter()
            .map(|row| Ok((row.try_get::<i32, _>(0)?, row.try_get::<i64, _>(1)?)))
            .collect(),
        Err(err) => {
            // The failed statement left the transaction open and aborted.
            conn.execute("ROLLBACK").await?;
            Err(err.into())
        }
    }
}

/// One event of a group; `ordinal` (from 1) is its place in the group.
fn event_json(e: &NewEvent, ordinal: usize) -> Value {
    json!({
        "ordinal": ordinal,
        "id": e.id,
        "event_type": e.event_type.as_str(),
        "aggregate_type": e.event_type.aggregate().as_str(),
        "aggregate_id": e.aggregate_id,
        "aggregate_version": e.aggregate_version,
        "schema_version": EVENT_SCHEMA_VERSION,
        "event_data": e.data,
        "correlation_id": e.correlation,
        "causation_id": e.causation,
        "actor": e.actor.to_string(),
    })
}
