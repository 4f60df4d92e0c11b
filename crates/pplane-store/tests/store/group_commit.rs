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
    callers_get_gap_free_positions(3).await;
}

/// A batch over many tenants commits as two tenant-disjoint lanes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_over_many_tenants_get_gap_free_positions_across_lanes() {
    callers_get_gap_free_positions(12).await;
}

async fn callers_get_gap_free_positions(tenant_count: usize) {
    let db = TestDb::migrated().await;
    let store = Store::connect_with(db.url(), StoreOptions { max_connections: 8 })
        .await
        .unwrap();
    let mut members = Vec::new();
    for _ in 0..tenant_count {
        members.push(db.tenant(&store).await);
    }
    let tasks: Vec<_> = (0..16 * tenant_count)
        .map(|i| {
            let store = store.clone();
            let (tenant, user) = members[i % tenant_count];
            tokio::spawn(async move {
                let events: Vec<NewEvent> = (0..1 + i % 3)
                    .map(|_| event(uuid::Uuid::now_v7(), 1))
                    .collect();
                let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id.as_uuid()).collect();
                let seqs = store.events_append(tenant, user, events).await.unwrap();
                (i % tenant_count, ids, seqs)
            })
        })
        .collect();
    let mut claimed: Vec<Vec<(i64, uuid::Uuid)>> = vec![Vec::new(); tenant_count];
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
    failing_requests_fail_alone(1).await;
}

/// The lane holding the failures retries them one by one; the other lane's
/// commit stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_request_fails_alone_while_the_other_lane_commits() {
    failing_requests_fail_alone(8).await;
}

/// 24 requests for each of `tenant_count` tenants (request i in tenant
/// i mod n), two of which fail.
async fn failing_requests_fail_alone(tenant_count: usize) {
    let db = TestDb::migrated().await;
    let store = Store::connect_with(db.url(), StoreOptions { max_connections: 8 })
        .await
        .unwrap();
    let mut members = Vec::new();
    for _ in 0..tenant_count {
        members.push(db.tenant(&store).await);
    }
    let (first, first_user) = members[0];
    let taken = uuid::Uuid::now_v7();
    store
        .events_append(first, first_user, vec![event(taken, 1)])
        .await
        .unwrap();
    // Version 1 of `taken` exists already: a conflict, in the first tenant.
    let conflict = tenant_count;
    // Not a member of the tenant: refused by row-level security.
    let outsider = 2 * tenant_count + 1;

    let stranger = UserId::new();
    let tasks: Vec<_> = (0..24 * tenant_count)
        .map(|i| {
            let store = store.clone();
            let (tenant, member) = members[i % tenant_count];
            let user = if i == outsider { stranger } else { member };
            let aggregate = if i == conflict {
                taken
            } else {
                uuid::Uuid::now_v7()
            };
            tokio::spawn(async move {
                store
                    .events_append(tenant, user, vec![event(aggregate, 1)])
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    for (i, outcome) in outcomes.iter().enumerate() {
        if i == conflict {
            assert!(
                matches!(
                    outcome,
                    Err(StoreError::Conflict {
                        constraint: pplane_store::Constraint::EventAggregateVersion
                    })
                ),
                "{outcome:?}"
            );
        } else if i == outsider {
            assert!(
                matches!(outcome, Err(StoreError::TenantIsolation(_))),
                "{outcome:?}"
            );
        } else {
            assert!(outcome.is_ok(), "request {i}: {outcome:?}");
        }
    }
    for (k, (tenant, user)) in members.iter().enumerate() {
        let mut tx = store.tenant_tx(*tenant, *user).await.unwrap();
        let stored = events_after(tx.conn(), *tenant, 0, 100).await.unwrap();
        // 24 requests each; the first tenant's earlier event stands in for
        // its conflicting one, the outsider's tenant is one short.
        let expected = 24 - usize::from(k == outsider % tenant_count);
        assert_eq!(stored.len(), expected, "tenant {k}");
        assert!(stored
            .iter()
            .enumerate()
            .all(|(n, e)| e.sequence_number == n as i64 + 1));
    }
}
