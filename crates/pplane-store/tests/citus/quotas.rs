//! Tenant quotas on Citus: the store counts the entries it opens and closes
//! (a shard's trigger may not write the head row), so a request past its
//! tenant's quota is refused there as on one server, and the counts stay
//! equal to what the outbox holds open through delivery, dead-lettering
//! and requeue.

use pplane_domain::delivery::{http_attempt, Backoff};
use pplane_domain::{Actor, RunId, TenantId, UserId};
use pplane_store::operations::delivery::{
    delivery_requeue, delivery_settle, effect_dispatch, outbox_claim_in,
};
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::ingest::SignalInput;
use pplane_store::operations::runs::run_start;
use pplane_store::operations::Origin;
use pplane_store::testing::citus::CitusDb;
use pplane_store::testing::signal_ingest_alone;
use pplane_store::{Quota, Store, StoreError};
use serde_json::json;

fn origin() -> Origin {
    Origin::by("agent:planner".parse::<Actor>().unwrap())
}

/// A started run of `tenant` with a destination named "hook".
async fn hooked_run(store: &Store, tenant: TenantId, user: UserId) -> RunId {
    let signal = SignalInput {
        channel: "chat".into(),
        source_id: "quota".into(),
        payload: json!({ "text": "notify" }),
        domain_refs: json!({}),
        actor: "user:alice".parse().unwrap(),
    };
    let run = signal_ingest_alone(store, tenant, user, &signal)
        .await
        .unwrap()
        .run_id;
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let hook = Target::Webhook("http://127.0.0.1:9/h".into());
    destination_create(&mut tx, "hook", &hook).await.unwrap();
    run_start(&mut tx, run, &origin()).await.unwrap();
    tx.commit().await.unwrap();
    run
}

async fn request(
    store: &Store,
    (tenant, user, run): (TenantId, UserId, RunId),
    key: &str,
) -> Result<(), StoreError> {
    let mut tx = store.tenant_tx(tenant, user).await?;
    let input = EffectInput {
        run,
        step: None,
        effect_type: "NOTIFY".into(),
        idempotency_key: key.into(),
        spec: json!({ "destination": "hook", "key": key }),
    };
    effect_request(&mut tx, &input, &origin()).await?;
    tx.commit().await
}

/// The tenant's counts on its head row, and what its outbox holds open
/// (entries, and their payloads' bytes as jsonb text), as "n bytes / n bytes".
async fn counts(db: &CitusDb, tenant: TenantId) -> String {
    db.text(&format!(
        "SELECT h.pending_effects || ' ' || h.pending_bytes || ' / ' || o.n || ' ' || o.bytes
         FROM tenant_event_heads h,
              (SELECT count(*) AS n, coalesce(sum(octet_length(payload::text)), 0) AS bytes
               FROM outbox_events
               WHERE tenant_id = '{tenant}' AND status IN ('PENDING', 'IN_FLIGHT')) o
         WHERE h.tenant_id = '{tenant}'"
    ))
    .await
}

/// One due entry of the tenant claimed, dispatched and settled with an
/// HTTP `status`, as the worker does on Citus.
async fn deliver_one(store: &Store, tenant: TenantId, status: u16) {
    let principal = store.delivery_principal().await.unwrap();
    let worker: Actor = "system:outbox-worker".parse().unwrap();
    let mut tx = store.tenant_tx(tenant, principal).await.unwrap();
    let claimed = outbox_claim_in(&mut tx, "w", 1, 30_000).await.unwrap();
    let entry = &claimed[0];
    effect_dispatch(&mut tx, entry, &worker).await.unwrap();
    let attempt = http_attempt(status, None);
    let verdict = attempt.verdict(1, &Backoff::default(), 0.5);
    delivery_settle(&mut tx, entry, &attempt, &verdict, &worker)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_holds_on_citus_and_its_counts_follow_every_entry() {
    let db = CitusDb::migrated().await;
    let store = db.store(4).await;
    let (tenant, user) = db.tenant(&store).await;
    let (other, other_user) = db.tenant(&store).await;
    let r = (tenant, user, hooked_run(&store, tenant, user).await);
    let o = (
        other,
        other_user,
        hooked_run(&store, other, other_user).await,
    );
    store.tenant_quota_set(tenant, Some(2), None).await.unwrap();

    request(&store, r, "k0").await.unwrap();
    request(&store, r, "k1").await.unwrap();
    let open = counts(&db, tenant).await;
    assert!(open.starts_with("2 "), "{open}");
    let sides: Vec<&str> = open.split(" / ").collect();
    assert_eq!(sides[0], sides[1], "counted as the outbox holds them");

    let effects =
        |t: TenantId| format!("SELECT count(*)::text FROM effects WHERE tenant_id = '{t}'");
    let refused = request(&store, r, "k2").await.unwrap_err();
    assert!(
        matches!(
            refused,
            StoreError::QuotaExceeded {
                quota: Quota::PendingEffects,
                limit: 2,
                would_be: 3
            }
        ),
        "{refused:?}"
    );
    assert_eq!(db.text(&effects(tenant)).await, "2", "nothing written");
    // Another tenant's quota is its own.
    request(&store, o, "k0").await.unwrap();

    // A permanent failure closes an entry; a requeue opens it again; a
    // delivery closes one for good.
    deliver_one(&store, tenant, 400).await;
    let dead = counts(&db, tenant).await;
    assert!(dead.starts_with("1 "), "{dead}");
    let entry: String = db
        .text(&format!(
            "SELECT id::text FROM outbox_events
             WHERE tenant_id = '{tenant}' AND status = 'DEAD_LETTER'"
        ))
        .await;
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let operator = Origin::by("user:ops".parse::<Actor>().unwrap());
    delivery_requeue(&mut tx, entry.parse().unwrap(), &operator)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(counts(&db, tenant).await.starts_with("2 "));
    assert!(request(&store, r, "k2").await.is_err(), "full again");
    deliver_one(&store, tenant, 204).await;
    let delivered = counts(&db, tenant).await;
    let sides: Vec<&str> = delivered.split(" / ").collect();
    assert!(delivered.starts_with("1 "), "{delivered}");
    assert_eq!(sides[0], sides[1], "counted as the outbox holds them");
    request(&store, r, "k2").await.unwrap();
    assert_eq!(db.text(&effects(tenant)).await, "3");
}
