//! The event log's ordering: per tenant, `sequence_number` is gap-free and
//! in commit order, so a reader tailing `sequence_number > last_seen` while
//! writers run never skips, never sees a gap, never sees an event twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pplane_domain::{TenantId, UserId};
use pplane_store::repositories::events::{event_append, events_after, NewEvent};
use pplane_store::testing::log::{checkpoint_event, log_tail};
use pplane_store::testing::TestDb;
use pplane_store::{Store, StoreOptions};
use serde_json::json;

const WRITERS: usize = 16;
const TRANSACTIONS_PER_WRITER: usize = 25;

/// One writer: transactions of 1 to 3 events, every fifth rolled back (its
/// positions must not leave a gap). Returns how many events it committed.
async fn writer(store: Store, tenant: TenantId, user: UserId, seed: usize) -> usize {
    let mut committed = 0;
    for i in 0..TRANSACTIONS_PER_WRITER {
        let batch: Vec<NewEvent> = (0..1 + (seed + i) % 3).map(checkpoint_event).collect();
        let mut tx = store.tenant_tx(tenant, user).await.unwrap();
        event_append(tx.conn(), tenant, &batch).await.unwrap();
        if (seed + i).is_multiple_of(5) {
            tx.rollback().await.unwrap();
        } else {
            tx.commit().await.unwrap();
            committed += batch.len();
        }
    }
    committed
}

async fn run_scenario(tenants: usize) {
    let db = TestDb::migrated().await;
    let store = Store::connect_with(
        db.url(),
        StoreOptions {
            max_connections: 24,
        },
    )
    .await
    .unwrap();
    let mut members = Vec::new();
    for _ in 0..tenants {
        members.push(db.tenant(&store).await);
    }
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = members
        .iter()
        .map(|&(t, u)| tokio::spawn(log_tail(store.clone(), t, u, done.clone())))
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (t, u) = members[w % tenants];
            tokio::spawn(writer(store.clone(), t, u, w))
        })
        .collect();
    let mut committed = vec![0usize; tenants];
    for (w, handle) in writers.into_iter().enumerate() {
        committed[w % tenants] += handle.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    for (i, reader) in readers.into_iter().enumerate() {
        let read = reader.await.unwrap();
        assert_eq!(
            read as usize, committed[i],
            "tenant {i}: every committed event was read exactly once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_writers_on_one_tenant_never_skip_a_tailing_reader() {
    run_scenario(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_writers_across_tenants_keep_each_tenant_gap_free() {
    run_scenario(4).await;
}

/// The repository has no way to change history, and the database refuses
/// it to everyone (see tenant_isolation); here: an appended event reads back
/// exactly as written.
#[tokio::test]
async fn appended_events_read_back_unchanged() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let written = checkpoint_event(7);
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let seqs = event_append(tx.conn(), tenant, std::slice::from_ref(&written))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let read = events_after(tx.conn(), tenant, 0, 10).await.unwrap();
    assert_eq!(seqs, [1]);
    assert_eq!(read.len(), 1);
    let e = &read[0];
    assert_eq!(
        (e.id, e.aggregate_id, e.aggregate_version),
        (written.id, written.aggregate_id, 1)
    );
    assert_eq!(
        (e.event_type.as_str(), e.aggregate_type.as_str()),
        ("CHECKPOINT_SAVED", "CHECKPOINT")
    );
    assert_eq!(e.event_data, json!({ "n": 7 }));
    assert_eq!(e.correlation_id, written.correlation);
}
