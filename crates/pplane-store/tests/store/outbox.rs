//! The outbox as the worker sees it: claims across tenants, one attempt at a
//! time per entry, settlements fenced by attempt, each outcome recorded on
//! the effect with its event.

use std::time::Duration;

use pplane_domain::delivery::{http_attempt, Backoff};
use pplane_domain::{TenantId, UserId};
use pplane_store::operations::delivery::{delivery_settle, effect_dispatch, Dispatch};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::repositories::events::events_by_correlation;
use pplane_store::testing::TestDb;
use pplane_store::Store;

use crate::support::{agent, claim, hooked_run, outbox_worker, settle_delivered};
use serde_json::json;

/// A tenant with a webhook destination and `n` requested effects.
pub(crate) async fn requested(store: &Store, tenant: TenantId, user: UserId, n: usize) {
    let run = hooked_run(store, tenant, user).await;
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    for i in 0..n {
        effect_request(
            &mut tx,
            &EffectInput {
                run,
                step: None,
                effect_type: "NOTIFY".into(),
                idempotency_key: format!("k-{i}-{run}"),
                spec: json!({ "destination": "hook", "n": i }),
            },
            &agent(),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The outbox worker acts in each tenant as the delivery principal: a new
/// tenant has it as a member even where no trigger adds it (on Citus the
/// tenants trigger cannot run).
#[tokio::test]
async fn a_new_tenant_has_the_delivery_principal_as_a_member_without_the_trigger() {
    let db = TestDb::migrated().await;
    db.exec("DROP TRIGGER tenants_delivery_principal ON tenants")
        .await;
    let store = db.store().await;
    let (tenant, _) = db.tenant(&store).await;
    let principal = store.delivery_principal().await.unwrap();
    let members = db
        .scalar(&format!(
            "SELECT count(*) FROM user_tenants WHERE tenant_id = '{tenant}' AND user_id = '{principal}'"
        ))
        .await;
    assert_eq!(members, 1);
    // It can open the tenant, as the worker does.
    let tx = store.tenant_tx(tenant, principal).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_delivered_entry_completes_its_effect_with_dispatched_and_succeeded_events() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    requested(&store, tenant, user, 1).await;
    let principal = store.delivery_principal().await.unwrap();

    let claimed = claim(&store, "w1", 10, 30_000).await;
    assert_eq!(claimed.len(), 1);
    let entry = &claimed[0];
    assert_eq!(
        (entry.attempt, entry.destination_kind.as_deref()),
        (1, Some("WEBHOOK"))
    );
    assert!(entry
        .destination_secret
        .as_deref()
        .unwrap()
        .starts_with("whsec_"));

    let mut tx = store.tenant_tx(tenant, principal).await.unwrap();
    let dispatch = effect_dispatch(&mut tx, entry, &outbox_worker())
        .await
        .unwrap();
    let Dispatch::Recorded(dispatch) = dispatch else {
        panic!("a PENDING effect may run, got {dispatch:?}");
    };
    let settled = settle_delivered(&mut tx, entry)
        .await
        .expect("the current attempt settles");
    tx.commit().await.unwrap();
    assert_eq!(settled.entry.status.as_str(), "DELIVERED");
    assert_eq!(settled.effect.status.as_str(), "COMPLETED");

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let events = events_by_correlation(tx.conn(), tenant, settled.effect.correlation_id)
        .await
        .unwrap();
    let requested = events
        .iter()
        .find(|e| e.event_type.as_str() == "EFFECT_REQUESTED")
        .unwrap();
    // The attempt reads as a chain: the request, its dispatch, its outcome.
    let dispatched = events
        .iter()
        .find(|e| e.event_type.as_str() == "EFFECT_DISPATCHED")
        .unwrap();
    let succeeded = events
        .iter()
        .find(|e| e.event_type.as_str() == "EFFECT_SUCCEEDED")
        .unwrap();
    assert_eq!(dispatched.causation_id, Some(requested.id));
    assert_eq!(succeeded.causation_id, Some(dispatched.id));
    // What the operations returned is what the log holds.
    assert_eq!(
        (dispatch.event_id, dispatch.sequence_number),
        (dispatched.id, dispatched.sequence_number)
    );
    let outcome = settled.event().expect("the outcome's event");
    assert_eq!(outcome.event_id, succeeded.id);
    for e in [dispatched, succeeded] {
        assert_eq!(e.actor.to_string(), "system:outbox-worker");
    }
    assert!(
        claim(&store, "w1", 10, 30_000).await.is_empty(),
        "nothing left to claim"
    );
}

/// An effect that ended while its entry was in flight (here cancelled by
/// hand) keeps its end: the settlement closes the entry, records no event,
/// and returns the effect as it is.
#[tokio::test]
async fn an_effect_that_ended_meanwhile_keeps_its_end_and_its_entry_closes() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    requested(&store, tenant, user, 1).await;
    let principal = store.delivery_principal().await.unwrap();
    let claimed = claim(&store, "w1", 10, 30_000).await;
    let entry = &claimed[0];
    let mut tx = store.tenant_tx(tenant, principal).await.unwrap();
    effect_dispatch(&mut tx, entry, &outbox_worker())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    db.exec(&format!(
        "UPDATE effects SET status = 'CANCELLED', version = version + 1 WHERE id = '{}'",
        entry.effect_id
    ))
    .await;
    let count_events =
        format!("SELECT count(*) FROM orchestration_events WHERE tenant_id = '{tenant}'");
    let before = db.scalar(&count_events).await;

    let mut tx = store.tenant_tx(tenant, principal).await.unwrap();
    let settled = settle_delivered(&mut tx, entry)
        .await
        .expect("the current attempt settles");
    tx.commit().await.unwrap();
    assert_eq!(settled.entry.status.as_str(), "DELIVERED");
    assert_eq!(settled.effect.status.as_str(), "CANCELLED");
    assert_eq!(settled.effect.id, entry.effect_id);
    assert_eq!(
        db.scalar(&count_events).await,
        before,
        "no event for an effect that had ended"
    );
    let pending = db
        .scalar(&format!(
            "SELECT pending_effects FROM tenant_event_heads WHERE tenant_id = '{tenant}'"
        ))
        .await;
    assert_eq!(pending, 0, "the closed entry left the count");
}

#[tokio::test]
async fn a_stale_acknowledgement_changes_nothing() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    requested(&store, tenant, user, 1).await;
    let principal = store.delivery_principal().await.unwrap();

    // w1's lease runs out; w2 takes the entry over as attempt 2.
    let first = claim(&store, "w1", 1, 1).await.remove(0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = claim(&store, "w2", 1, 30_000).await.remove(0);
    assert_eq!((first.id, first.attempt, second.attempt), (second.id, 1, 2));

    let mut tx = store.tenant_tx(tenant, principal).await.unwrap();
    let late = settle_delivered(&mut tx, &first).await;
    assert!(late.is_none(), "attempt 1 is no longer the entry's attempt");
    effect_dispatch(&mut tx, &second, &outbox_worker())
        .await
        .unwrap();
    let current = settle_delivered(&mut tx, &second).await;
    tx.commit().await.unwrap();
    assert_eq!(current.unwrap().entry.attempt, 2);
}

#[tokio::test]
async fn a_transient_failure_waits_for_its_backoff_and_keeps_a_bounded_history() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    requested(&store, tenant, user, 1).await;
    let principal = store.delivery_principal().await.unwrap();
    let backoff = Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
        max_attempts: 15,
    };

    let mut last = None;
    for attempt in 1..=12 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let entry = claim(&store, "w", 1, 30_000).await.remove(0);
        assert_eq!(entry.attempt, attempt);
        let failure = http_attempt(503, None);
        let verdict = failure.verdict(entry.attempt as u32, &backoff, 0.0);
        let mut tx = store.tenant_tx(tenant, principal).await.unwrap();
        effect_dispatch(&mut tx, &entry, &outbox_worker())
            .await
            .unwrap();
        last = delivery_settle(&mut tx, &entry, &failure, &verdict, &outbox_worker())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let settled = last.unwrap();
    assert_eq!(settled.entry.status.as_str(), "PENDING");
    assert_eq!(settled.entry.retry_count, 12);
    assert_eq!(settled.effect.status.as_str(), "FAILED");
    let details = settled.entry.error_details.clone().unwrap();
    assert_eq!(details["history"].as_array().unwrap().len(), 10);
    assert_eq!(details["last"]["attempt"], 12);
    assert_eq!(details["last"]["message"], "HTTP 503");

    // A long backoff keeps the entry out of every claim until it is due.
    let entry = {
        tokio::time::sleep(Duration::from_millis(5)).await;
        claim(&store, "w", 1, 30_000).await.remove(0)
    };
    let slow = Backoff {
        base: Duration::from_secs(3600),
        cap: Duration::from_secs(3600),
        ..backoff
    };
    let failure = http_attempt(500, None);
    let verdict = failure.verdict(entry.attempt as u32, &slow, 0.0);
    let mut tx = store.tenant_tx(tenant, principal).await.unwrap();
    effect_dispatch(&mut tx, &entry, &outbox_worker())
        .await
        .unwrap();
    delivery_settle(&mut tx, &entry, &failure, &verdict, &outbox_worker())
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert!(claim(&store, "w", 1, 30_000).await.is_empty());
}

#[tokio::test]
async fn concurrent_claims_never_share_an_entry() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    for _ in 0..3 {
        let (tenant, user) = db.tenant(&store).await;
        requested(&store, tenant, user, 40).await;
    }
    let claims = (0..6).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = claim(&store, &format!("w{w}"), 7, 30_000).await;
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|c| c.id));
            }
        })
    });
    let mut all = Vec::new();
    for c in claims {
        all.extend(c.await.unwrap());
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(
        (total, all.len()),
        (120, 120),
        "every entry claimed exactly once"
    );
}
