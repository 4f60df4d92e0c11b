//! The event log seen by a test: events to append, and a reader that tails
//! a tenant's log as a consumer would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pplane_domain::{Actor, CorrelationId, EventId, EventType, TenantId, UserId};
use serde_json::json;

use crate::repositories::events::{events_after, NewEvent};
use crate::Store;

/// A CHECKPOINT_SAVED event carrying `n`, of an aggregate of its own.
pub fn checkpoint_event(n: usize) -> NewEvent {
    NewEvent {
        id: EventId::new(),
        event_type: EventType::CheckpointSaved,
        aggregate_id: uuid::Uuid::now_v7(),
        aggregate_version: 1,
        data: json!({ "n": n }),
        correlation: CorrelationId::new(),
        causation: None,
        actor: "system:test".parse::<Actor>().expect("an actor"),
    }
}

/// Tails one tenant's log until `done` and nothing is left; asserts every
/// batch continues exactly where the last one ended (no gap, no skip, no
/// repeat). Returns the last sequence number read.
pub async fn log_tail(store: Store, tenant: TenantId, user: UserId, done: Arc<AtomicBool>) -> i64 {
    let mut last_seen = 0i64;
    loop {
        let finished = done.load(Ordering::SeqCst);
        let mut tx = store
            .tenant_tx(tenant, user)
            .await
            .expect("a reader's transaction");
        let batch = events_after(tx.conn(), tenant, last_seen, 200)
            .await
            .expect("read the log");
        tx.rollback().await.expect("end the read");
        for e in &batch {
            assert_eq!(
                e.sequence_number,
                last_seen + 1,
                "a gap or a skip after {last_seen}"
            );
            last_seen = e.sequence_number;
        }
        if batch.is_empty() && finished {
            return last_seen;
        }
    }
}
