//! Run checkpoint retention on Citus: the prune's statement (a window over
//! the tenant's checkpoints, joined to its UPDATE) runs in the tenant's
//! shard, drops the superseded states, records each, and leaves another
//! tenant's alone; the data gate agrees afterwards.

use pplane_domain::{Actor, TenantId, UserId};
use pplane_store::checks::data::data_check;
use pplane_store::operations::checkpoints::{
    checkpoint_save, checkpoints_prune, CheckpointRetention,
};
use pplane_store::operations::ingest::SignalInput;
use pplane_store::operations::Origin;
use pplane_store::testing::citus::CitusDb;
use pplane_store::testing::signal_ingest_alone;
use pplane_store::Store;
use serde_json::json;

fn origin() -> Origin {
    Origin::by("system:checkpoint-retention".parse::<Actor>().unwrap())
}

/// A run of the tenant's with four checkpoints.
async fn four_checkpoints(store: &Store, tenant: TenantId, user: UserId) {
    let signal = SignalInput {
        channel: "chat".into(),
        source_id: "s".into(),
        payload: json!({}),
        domain_refs: json!({}),
        actor: "user:alice".parse::<Actor>().unwrap(),
    };
    let run = signal_ingest_alone(store, tenant, user, &signal)
        .await
        .unwrap()
        .into_value()
        .run_id;
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    for n in 0..4 {
        checkpoint_save(&mut tx, run, &json!({ "n": n }), None, &origin())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_on_citus_drops_superseded_states_in_its_tenant_only() {
    let db = CitusDb::migrated().await;
    let store = db.store(4).await;
    let (tenant, user) = db.tenant(&store).await;
    let (other, other_user) = db.tenant(&store).await;
    four_checkpoints(&store, tenant, user).await;
    four_checkpoints(&store, other, other_user).await;

    let pruned = checkpoints_prune(
        &store,
        tenant,
        user,
        CheckpointRetention::BeyondNewest(1),
        &origin(),
    )
    .await
    .unwrap();
    assert_eq!((pruned.documents, pruned.states), (0, 3));
    let held = |t: TenantId| {
        format!(
            "SELECT count(*) FILTER (WHERE state IS NULL AND pruned_at IS NOT NULL) || ' of ' || count(*)
             FROM run_checkpoints WHERE tenant_id = '{t}'"
        )
    };
    assert_eq!(db.text(&held(tenant)).await, "3 of 4");
    assert_eq!(db.text(&held(other)).await, "0 of 4");
    assert_eq!(
        db.text(&format!(
            "SELECT count(*)::text FROM orchestration_events
             WHERE tenant_id = '{tenant}' AND event_type = 'CHECKPOINT_DELETED'"
        ))
        .await,
        "3"
    );
    let report = data_check(&mut db.admin().await).await.unwrap();
    let failures: Vec<_> = report.failures().map(|r| (&r.check, &r.evidence)).collect();
    assert!(report.passed(), "{failures:#?}");
}
