//! Grouped appends: many callers share commits, each gets its own positions,
//! positions stay gap-free per tenant, and a failing request fails alone.

use pplane_domain::{Actor, CorrelationId, EventId, EventType, UserId};
use pplane_store::repositories::events::{events_after, NewEvent};
use pplane_store::testing::TestDb;
use pplane_store::{Store, StoreError, StoreOptions};
use serde_json::json;

fn event(aggregate: uuid::Uuid, version: i32) -> NewEvent {
    NewEvent {
        id: EventId::new(),
        event_type: EventType::StepCompleted,
        aggregate_id: aggregate,
        aggregate_version: version,
        data: json!({ "v": version }),
        correlation: CorrelationId::new(),
        causation: None,
        actor: "agent:test".parse::<Actor>().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_get_their_own_gap_free_positions() {
    let db = TestDb::migrated().await;
    let store = Store::connect_with(db.url(), StoreOptions { max_connections: 8 })
        .await
        .unwrap();
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(db.tenant(&store).await);
    }
    let tasks: Vec<_> = (0..48)
        .map(|i| {
            let store = store.clone();
            let (tenant, user) = members[i % 3];
            tokio::spawn(async move {
                let events: Vec<NewEvent> = (0..1 + i % 3)
                    .map(|_| event(uuid::Uuid::now_v7(), 1))
                    .collect();
                let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id.as_uuid()).collect();
                let seqs = store.events_append(tenant, user, events).await.unwrap();
                (i % 3, ids, seqs)
            })
        })
        .collect();
    let mut claimed: Vec<Vec<(i64, uuid::Uuid)>> = vec![Vec::new(); 3];
    for t in tasks {
        let (tenant_index, ids, seqs) = t.await.unwrap();
        assert_eq!(ids.len(), seqs.len());
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "one caller's events are consecutive"
        );
        claimed[tenant_index].extend(seqs.into_iter().zip(ids));
    }
    for (i, (tenant, user)) in members.iter().enumerate() {
        let mut tx = store.tenant_tx(*tenant, *user).await.unwrap();
        let stored = events_after(tx.conn(), *tenant, 0, 1000).await.unwrap();
        let mut expected = claimed[i].clone();
        expected.sort();
        let got: Vec<(i64, uuid::Uuid)> = stored
            .iter()
            .map(|e| (e.sequence_number, e.id.as_uuid()))
            .collect();
        assert_eq!(
            got, expected,
            "tenant {i}: what callers were told is what is stored"
        );
        assert!(
            got.iter()
                .enumerate()
                .all(|(k, (seq, _))| *seq == k as i64 + 1),
            "gap-free from 1"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_request_fails_alone() {
    let db = TestDb::migrated().await;
    let store = Store::connect_with(db.url(), StoreOptions { max_connections: 8 })
        .await
        .unwrap();
    let (tenant, user) = db.tenant(&store).await;
    let taken = uuid::Uuid::now_v7();
    store
        .events_append(tenant, user, vec![event(taken, 1)])
        .await
        .unwrap();

    let stranger = UserId::new();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                match i {
                    // Version 1 of `taken` exists already: a conflict.
                    5 => {
                        store
                            .events_append(tenant, user, vec![event(taken, 1)])
                            .await
                    }
                    // Not a member of the tenant: refused by row-level security.
                    11 => {
                        store
                            .events_append(tenant, stranger, vec![event(uuid::Uuid::now_v7(), 1)])
                            .await
                    }
                    _ => {
                        store
                            .events_append(tenant, user, vec![event(uuid::Uuid::now_v7(), 1)])
                            .await
                    }
                }
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    for (i, outcome) in outcomes.iter().enumerate() {
        match i {
            5 => assert!(
                matches!(
                    outcome,
                    Err(StoreError::Conflict {
                        constraint: pplane_store::Constraint::EventAggregateVersion
                    })
                ),
                "{outcome:?}"
            ),
            11 => assert!(
                matches!(outcome, Err(StoreError::TenantIsolation(_))),
                "{outcome:?}"
            ),
            _ => assert!(outcome.is_ok(), "request {i}: {outcome:?}"),
        }
    }
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let stored = events_after(tx.conn(), tenant, 0, 100).await.unwrap();
    assert_eq!(stored.len(), 23, "1 + the 22 good requests");
    assert!(stored
        .iter()
        .enumerate()
        .all(|(k, e)| e.sequence_number == k as i64 + 1));
}
