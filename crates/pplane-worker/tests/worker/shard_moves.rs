//! Shards moved between the workers while the plane works: 8 writers save
//! checkpoints (each appending its event) over 50 tenants, effects are requested and delivered, a reader tails a
//! few tenants, and every shard group moves to the other worker and back
//! (Citus's `citus_move_shard_placement`; with writes to the moving group
//! held while it is copied, since PostgreSQL 15 refuses Citus's logical
//! replication into tables under row-level security: docs/citus.md). Nothing
//! acknowledged is lost or doubled, every tenant's positions stay 1..n, the
//! reader skips nothing, every effect arrives, and the data gate passes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pplane_domain::{RunId, TenantId, UserId};
use pplane_store::checks::data::data_check;
use pplane_store::operations::checkpoints::checkpoint_save;
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::testing::citus::CitusDb;
use pplane_store::testing::log::log_tail;
use pplane_store::testing::{run_started, Scratch};
use pplane_store::{Store, StoreError};
use pplane_worker::receiver::Receiver;
use pplane_worker::{Worker, WorkerConfig};
use serde_json::json;
use tokio::sync::watch;

use crate::support::{eventually, origin, quick};

const TENANTS: usize = 50;
const WRITERS: usize = 8;
const APPENDS_PER_WRITER: usize = 60;
const EFFECTS: usize = 40;

struct Member {
    tenant: TenantId,
    user: UserId,
    run: RunId,
}

/// A tenant with a member, a started run and a webhook destination.
async fn member(db: &CitusDb, store: &Store, receiver: &Receiver) -> Member {
    let (tenant, user) = db.tenant(store).await;
    let run = run_started(store, tenant, user, &tenant.to_string()).await;
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let secret = destination_create(&mut tx, "sink", &Target::Webhook(receiver.url("/in")))
        .await
        .unwrap()
        .signing_secret
        .unwrap();
    tx.commit().await.unwrap();
    receiver.trust(&secret);
    Member { tenant, user, run }
}

/// Runs the transaction `$attempt` (an async block, made afresh each time)
/// until it commits; evaluates to how many times it was rolled back first.
/// A move may break a deadlock by rolling a writer back: nothing of it was
/// written, and a client retries (StoreError::Retry says so). Any other
/// error fails the test.
macro_rules! retrying {
    ($attempt:expr) => {{
        let mut retried = 0usize;
        loop {
            match $attempt.await {
                Ok(()) => break retried,
                Err(StoreError::Retry { .. }) => retried += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }};
}

/// Saves checkpoints of the members' runs, round robin, each in its own
/// transaction (a run checkpoint and its CHECKPOINT_SAVED event); returns
/// how many were acknowledged per tenant, and how many were retried.
async fn writer(
    store: Store,
    members: Arc<Vec<(TenantId, UserId, RunId)>>,
    seed: usize,
) -> (Vec<usize>, usize) {
    let mut acknowledged = vec![0usize; members.len()];
    let mut retried = 0;
    for i in 0..APPENDS_PER_WRITER {
        let m = (seed * 7 + i) % members.len();
        let (tenant, user, run) = members[m];
        retried += retrying!(async {
            let mut tx = store.tenant_tx(tenant, user).await?;
            let state = json!({ "writer": seed, "n": i });
            checkpoint_save(&mut tx, run, &state, None, &origin()).await?;
            tx.commit().await
        });
        acknowledged[m] += 1;
    }
    (acknowledged, retried)
}

/// Moves every shard group of the tenant tables to the other worker, one
/// group at a time; returns how many moves it made.
async fn move_every_group(db: &CitusDb) -> usize {
    let groups = db
        .text(
            "SELECT string_agg(s.shardid::text || ':' || n.nodeport, ',' ORDER BY s.shardid)
             FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
             JOIN pg_dist_node n ON n.groupid = p.groupid
             WHERE s.logicalrelid = 'signals'::regclass",
        )
        .await;
    let mut moves = 0;
    for group in groups.split(',') {
        let (shard, from) = group.split_once(':').unwrap();
        let from: u16 = from.parse().unwrap();
        let to = *db.worker_ports.iter().find(|p| **p != from).unwrap();
        // A move leaves the old copy to be dropped later; moving a group
        // back to where it was needs that copy gone first.
        db.exec("CALL citus_cleanup_orphaned_resources()").await;
        db.exec(&format!(
            "SELECT citus_move_shard_placement({shard}, '127.0.0.1', {from}, '127.0.0.1', {to},
                                               shard_transfer_mode => 'block_writes')"
        ))
        .await;
        moves += 1;
    }
    moves
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shards_move_under_load_and_nothing_is_lost_or_doubled() {
    let db = CitusDb::migrated().await;
    let store = db.store(24).await;
    let receiver = Receiver::start().await.unwrap();
    let mut members = Vec::new();
    for _ in 0..TENANTS {
        members.push(member(&db, &store, &receiver).await);
    }
    let ids: Arc<Vec<(TenantId, UserId, RunId)>> =
        Arc::new(members.iter().map(|m| (m.tenant, m.user, m.run)).collect());

    let worker = Worker::new(
        store.clone(),
        WorkerConfig {
            poll: Duration::from_millis(100),
            ..quick(10)
        },
    )
    .await
    .unwrap();
    let (stop, shutdown) = watch::channel(false);
    let delivering = {
        let worker = worker.clone();
        tokio::spawn(async move { worker.run(shutdown).await.unwrap() })
    };
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = ids[..4]
        .iter()
        .map(|&(t, u, _)| tokio::spawn(log_tail(store.clone(), t, u, done.clone())))
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(store.clone(), ids.clone(), w)))
        .collect();
    let requests = {
        let store = store.clone();
        let targets = ids.clone();
        tokio::spawn(async move {
            for i in 0..EFFECTS {
                let (tenant, user, run) = targets[i % targets.len()];
                let input = EffectInput {
                    run,
                    step: None,
                    effect_type: "NOTIFY".into(),
                    idempotency_key: format!("move-{i}"),
                    spec: json!({ "destination": "sink", "n": i }),
                };
                retrying!(async {
                    let mut tx = store.tenant_tx(tenant, user).await?;
                    effect_request(&mut tx, &input, &origin()).await?;
                    tx.commit().await
                });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // Out and back: every group leaves its worker while the load runs.
    let mut moves = move_every_group(&db).await;
    moves += move_every_group(&db).await;

    let mut acknowledged = vec![0usize; TENANTS];
    let mut retried = 0;
    for w in writers {
        let (counts, again) = w.await.unwrap();
        retried += again;
        for (i, n) in counts.into_iter().enumerate() {
            acknowledged[i] += n;
        }
    }
    requests.await.unwrap();
    let delivered = eventually(Duration::from_secs(60), async || receiver.keys() == EFFECTS).await;
    stop.send(true).unwrap();
    delivering.await.unwrap();
    assert!(
        delivered,
        "{} of {EFFECTS} effects arrived",
        receiver.keys()
    );
    // Nothing writes any more: each reader reads to the end of its log.
    done.store(true, Ordering::SeqCst);
    for (i, reader) in readers.into_iter().enumerate() {
        let read = reader.await.unwrap() as usize;
        assert_eq!(
            read,
            log_length(&db, ids[i].0).await,
            "tenant {i}: the reader saw every event once"
        );
    }
    assert!(moves >= 8, "{moves} moves");

    for (i, &(tenant, _, _)) in ids.iter().enumerate() {
        let t = tenant.as_uuid();
        let checkpoints = db
            .scalar(&format!(
                "SELECT count(*) FROM orchestration_events
                 WHERE tenant_id = '{t}' AND event_type = 'CHECKPOINT_SAVED'"
            ))
            .await;
        assert_eq!(
            checkpoints as usize, acknowledged[i],
            "tenant {i}: every acknowledged append, once"
        );
        let shape = db
            .text(&format!(
                "SELECT count(*) || ' ' || count(DISTINCT sequence_number) || ' ' || min(sequence_number)
                        || ' ' || max(sequence_number)
                 FROM orchestration_events WHERE tenant_id = '{t}'"
            ))
            .await;
        let n = log_length(&db, tenant).await;
        assert_eq!(
            shape,
            format!("{n} {n} 1 {n}"),
            "tenant {i}: positions 1..n, gap-free"
        );
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM outbox_events WHERE status = 'DELIVERED'")
            .await,
        EFFECTS as i64
    );
    let report = data_check(&mut db.admin().await).await.unwrap();
    let failures: Vec<_> = report.failures().map(|r| (&r.check, &r.evidence)).collect();
    assert!(report.passed(), "{failures:#?}");
    eprintln!(
        "shard moves: {moves} moves under load; {} checkpoints ({retried} retried after a \
         rollback); {EFFECTS} effects; every log gap-free",
        WRITERS * APPENDS_PER_WRITER
    );
}

/// How many events `tenant`'s log holds.
async fn log_length(db: &CitusDb, tenant: TenantId) -> usize {
    db.scalar(&format!(
        "SELECT count(*) FROM orchestration_events WHERE tenant_id = '{}'",
        tenant.as_uuid()
    ))
    .await as usize
}
