//! Per-tenant quotas on what waits in the outbox: a request that would take
//! its tenant past its pending effects or their payload bytes is refused
//! before anything is written, and the counts follow every entry that
//! opens or closes, whoever moves it.

use pplane_domain::{RunId, TenantId, UserId};
use pplane_store::operations::delivery::effect_dispatch;
use pplane_store::operations::effects::{
    effect_request, tenant_quota_fetch, EffectInput, TenantQuota,
};
use pplane_store::repositories::outbox::{outbox_claim, ClaimSize, Rotation};
use pplane_store::testing::TestDb;
use pplane_store::{Quota, Store, StoreError};
use serde_json::{json, Value};

use crate::support::{agent, claim, hooked_run, outbox_worker, settle_delivered};

/// A tenant with a destination and a started run to request effects in.
struct Requester {
    tenant: TenantId,
    user: UserId,
    run: RunId,
}

async fn requester(db: &TestDb, store: &Store) -> Requester {
    let (tenant, user) = db.tenant(store).await;
    let run = hooked_run(store, tenant, user).await;
    Requester { tenant, user, run }
}

async fn request(store: &Store, r: &Requester, key: &str, extra: Value) -> Result<(), StoreError> {
    let mut tx = store.tenant_tx(r.tenant, r.user).await?;
    let input = EffectInput {
        run: r.run,
        step: None,
        effect_type: "NOTIFY".into(),
        idempotency_key: key.into(),
        spec: json!({ "destination": "hook", "extra": extra }),
    };
    effect_request(&mut tx, &input, &agent()).await?;
    tx.commit().await?;
    Ok(())
}

async fn quota(store: &Store, r: &Requester) -> TenantQuota {
    let mut tx = store.tenant_tx(r.tenant, r.user).await.unwrap();
    tenant_quota_fetch(&mut tx).await.unwrap()
}

/// What the tenant has written: effects, outbox entries, events.
async fn written(db: &TestDb, tenant: TenantId) -> [i64; 3] {
    let mut counts = [0; 3];
    for (i, table) in ["effects", "outbox_events", "orchestration_events"]
        .iter()
        .enumerate()
    {
        counts[i] = db
            .scalar(&format!(
                "SELECT count(*) FROM {table} WHERE tenant_id = '{tenant}'"
            ))
            .await;
    }
    counts
}

/// The open entries and their payloads' bytes as jsonb text, counted from
/// the table.
async fn pending_in_table(db: &TestDb, tenant: TenantId) -> (i64, i64) {
    let where_open = format!(
        "FROM outbox_events WHERE tenant_id = '{tenant}' AND status IN ('PENDING', 'IN_FLIGHT')"
    );
    let n = db.scalar(&format!("SELECT count(*) {where_open}")).await;
    let bytes = db
        .scalar(&format!(
            "SELECT coalesce(sum(octet_length(payload::text)), 0)::int8 {where_open}"
        ))
        .await;
    (n, bytes)
}

#[tokio::test]
async fn a_request_past_the_pending_effects_quota_is_refused_with_nothing_written() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (full, other) = (requester(&db, &store).await, requester(&db, &store).await);
    store
        .tenant_quota_set(full.tenant, Some(3), None)
        .await
        .unwrap();
    for i in 0..3 {
        request(&store, &full, &format!("k{i}"), json!(i))
            .await
            .unwrap();
    }
    let before = written(&db, full.tenant).await;
    let refused = request(&store, &full, "k3", json!(3)).await.unwrap_err();
    let StoreError::QuotaExceeded {
        quota: which,
        limit,
        would_be,
    } = refused
    else {
        panic!("expected a quota refusal, got {refused:?}");
    };
    assert_eq!((which, limit, would_be), (Quota::PendingEffects, 3, 4));
    assert_eq!(written(&db, full.tenant).await, before, "nothing written");
    // A duplicate of an effect already requested writes nothing and passes.
    request(&store, &full, "k0", json!(0)).await.unwrap();
    // Another tenant's quota is its own.
    request(&store, &other, "k0", json!(0)).await.unwrap();

    // One delivered: room for one more.
    let principal = store.delivery_principal().await.unwrap();
    let mut tx = store.dispatch_tx().await.unwrap();
    let size = ClaimSize::one_tenant(1);
    let mut claimed = outbox_claim(tx.conn(), &Rotation::default(), "w", size, 30_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    while claimed[0].tenant_id != full.tenant {
        // The other tenant came first in turn: take the next claim.
        let mut tx = store.dispatch_tx().await.unwrap();
        let rotation = {
            let mut r = Rotation::default();
            r.advance([&claimed[0].tenant_id]);
            r
        };
        claimed = outbox_claim(tx.conn(), &rotation, "w", size, 30_000)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(
        quota(&store, &full).await.pending_effects,
        3,
        "a claim opens nothing"
    );
    let entry = &claimed[0];
    let mut tx = store.tenant_tx(full.tenant, principal).await.unwrap();
    effect_dispatch(&mut tx, entry, &outbox_worker())
        .await
        .unwrap();
    settle_delivered(&mut tx, entry).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(quota(&store, &full).await.pending_effects, 2);
    request(&store, &full, "k3", json!(3)).await.unwrap();
    assert_eq!(
        request(&store, &full, "k4", json!(4))
            .await
            .unwrap_err()
            .to_string(),
        "this request would take the tenant to 4 pending effects, over its quota of 3: \
         wait for deliveries, or ask an operator to raise it (pplane tenant quota)"
    );
}

#[tokio::test]
async fn a_request_past_the_pending_bytes_quota_is_refused_with_nothing_written() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let r = requester(&db, &store).await;
    store
        .tenant_quota_set(r.tenant, None, Some(4_000))
        .await
        .unwrap();
    request(&store, &r, "small", json!("x".repeat(100)))
        .await
        .unwrap();
    let before = written(&db, r.tenant).await;
    // Random text does not compress: it is stored at about its length.
    let big: String = (0..5_000)
        .map(|i| char::from(b'a' + ((i * 7919) % 26) as u8))
        .collect();
    let refused = request(&store, &r, "big", json!(big)).await.unwrap_err();
    assert!(
        matches!(
            refused,
            StoreError::QuotaExceeded {
                quota: Quota::PendingBytes,
                limit: 4_000,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(written(&db, r.tenant).await, before, "nothing written");
    let q = quota(&store, &r).await;
    assert_eq!(
        (q.max_pending_effects, q.max_pending_bytes),
        (100_000, 4_000)
    );
    assert_eq!(
        (q.pending_effects, q.pending_bytes),
        pending_in_table(&db, r.tenant).await
    );
}

#[tokio::test]
async fn the_counts_follow_entries_however_they_open_and_close() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let r = requester(&db, &store).await;
    for i in 0..5 {
        request(&store, &r, &format!("k{i}"), json!(i))
            .await
            .unwrap();
    }
    let counted = |q: TenantQuota| (q.pending_effects, q.pending_bytes);
    assert_eq!(
        counted(quota(&store, &r).await),
        pending_in_table(&db, r.tenant).await
    );
    assert_eq!(quota(&store, &r).await.pending_effects, 5);

    // Dead-lettered by hand, then put back by the walkthrough's bare
    // UPDATE (section 8): each move counted.
    db.exec(&format!(
        "UPDATE outbox_events SET status = 'DEAD_LETTER' WHERE tenant_id = '{}' AND \
         idempotency_key IN ('k0', 'k1')",
        r.tenant
    ))
    .await;
    assert_eq!(quota(&store, &r).await.pending_effects, 3);
    assert_eq!(
        counted(quota(&store, &r).await),
        pending_in_table(&db, r.tenant).await
    );
    db.exec(&format!(
        "UPDATE outbox_events SET status = 'PENDING', retry_count = 0, next_retry_at = NULL \
         WHERE tenant_id = '{}' AND idempotency_key = 'k0'",
        r.tenant
    ))
    .await;
    assert_eq!(quota(&store, &r).await.pending_effects, 4);
    // Deleted open entries leave the count too.
    db.exec(&format!(
        "DELETE FROM outbox_events WHERE tenant_id = '{}' AND idempotency_key = 'k2'",
        r.tenant
    ))
    .await;
    assert_eq!(
        counted(quota(&store, &r).await),
        pending_in_table(&db, r.tenant).await
    );
    assert_eq!(quota(&store, &r).await.pending_effects, 3);
}

#[tokio::test]
async fn a_large_payload_leaves_the_counts_with_the_bytes_it_entered_with() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let r = requester(&db, &store).await;
    // 60,000 repeated bytes: PostgreSQL stores them compressed, to a few
    // hundred, which the count must not see as the entry closes.
    request(&store, &r, "big", json!("ab".repeat(30_000)))
        .await
        .unwrap();
    let stored = db
        .scalar(&format!(
            "SELECT pg_column_size(payload)::int8 FROM outbox_events WHERE tenant_id = '{}'",
            r.tenant
        ))
        .await;
    assert!(stored < 10_000, "stored compressed: {stored} bytes");
    let counted = quota(&store, &r).await;
    assert_eq!(
        (counted.pending_effects, counted.pending_bytes),
        pending_in_table(&db, r.tenant).await
    );
    assert!(counted.pending_bytes > 60_000, "{counted:?}");

    let principal = store.delivery_principal().await.unwrap();
    let claimed = claim(&store, "w", 1, 30_000).await;
    let mut tx = store.tenant_tx(r.tenant, principal).await.unwrap();
    effect_dispatch(&mut tx, &claimed[0], &outbox_worker())
        .await
        .unwrap();
    settle_delivered(&mut tx, &claimed[0]).await.unwrap();
    tx.commit().await.unwrap();
    let after = quota(&store, &r).await;
    assert_eq!((after.pending_effects, after.pending_bytes), (0, 0));
}

#[tokio::test]
async fn a_quota_is_set_by_an_operator_and_must_be_positive() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let r = requester(&db, &store).await;
    let refused = store.tenant_quota_set(r.tenant, Some(0), None).await;
    assert!(
        matches!(refused, Err(StoreError::InvalidInput(_))),
        "{refused:?}"
    );
    let missing = store.tenant_quota_set(TenantId::new(), Some(5), None).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
    // A member of the tenant, as pplane_app, cannot raise its own quota.
    let mut tx = store.tenant_tx(r.tenant, r.user).await.unwrap();
    let raised = sqlx::query("UPDATE tenants SET max_pending_effects = 9999999")
        .execute(tx.conn())
        .await;
    assert!(raised.is_err(), "pplane_app may not write tenants");
}
