//! The event log's order on Citus: a tenant's head row and events live in
//! its shard, so `UPDATE head ... RETURNING` then INSERT are two statements
//! on one worker, and a reader tailing `sequence_number > last_seen` while 8
//! writers append never skips, never sees a gap, never sees an event twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pplane_domain::{TenantId, UserId};
use pplane_store::repositories::events::{event_append, NewEvent};
use pplane_store::testing::citus::CitusDb;
use pplane_store::testing::log::{checkpoint_event, log_tail};
use pplane_store::Store;

const WRITERS: usize = 8;
const TRANSACTIONS_PER_WRITER: usize = 20;

/// Transactions of 1 to 3 events, every fifth rolled back; half of them go
/// through the group-commit appender, half through a transaction's own
/// append. Returns how many events it committed.
async fn writer(store: Store, tenant: TenantId, user: UserId, seed: usize) -> usize {
    let mut committed = 0;
    for i in 0..TRANSACTIONS_PER_WRITER {
        let batch: Vec<NewEvent> = (0..1 + (seed + i) % 3).map(checkpoint_event).collect();
        if (seed + i).is_multiple_of(2) {
            store
                .events_append(tenant, user, batch.clone())
                .await
                .unwrap();
            committed += batch.len();
            continue;
        }
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

/// 8 writers over 2 tenants (on whichever workers their shards live), a
/// tailing reader per tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_never_skip_a_tailing_reader() {
    let db = CitusDb::migrated().await;
    let store = db.store(16).await;
    let members = [db.tenant(&store).await, db.tenant(&store).await];
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = members
        .iter()
        .map(|&(t, u)| tokio::spawn(log_tail(store.clone(), t, u, done.clone())))
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (t, u) = members[w % members.len()];
            tokio::spawn(writer(store.clone(), t, u, w))
        })
        .collect();
    let mut committed = [0usize; 2];
    for (w, handle) in writers.into_iter().enumerate() {
        committed[w % members.len()] += handle.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    for (i, reader) in readers.into_iter().enumerate() {
        let read = reader.await.unwrap();
        assert!(committed[i] > 0);
        assert_eq!(
            read as usize, committed[i],
            "tenant {i}: every committed event read once"
        );
    }
}
