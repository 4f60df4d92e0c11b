//! Run checkpoint retention: superseded checkpoints lose their state, each
//! recorded as CHECKPOINT_DELETED; a run's newest keeps its own, LangGraph
//! threads and other tenants are not touched, and the data gate stays
//! green.

use pplane_domain::{CheckpointId, RunId, TenantId, UserId};
use pplane_store::checks::data::data_check;
use pplane_store::operations::checkpoints::{
    checkpoint_list, checkpoint_load, checkpoint_save, checkpoints_prune, checkpoints_prune_batch,
    CheckpointRetention, CheckpointsPruned,
};
use pplane_store::queries::runs::Checkpoint;
use pplane_store::testing::TestDb;
use pplane_store::{Store, StoreError};
use serde_json::json;

use crate::langgraph::{key, put, stored, value};
use crate::support::{agent, ingest};

/// A new run of the tenant with `count` checkpoints, the n-th holding `n`.
async fn run_with(store: &Store, tenant: TenantId, user: UserId, count: usize) -> RunId {
    let run = ingest(store, tenant, user, &uuid::Uuid::now_v7().to_string())
        .await
        .run_id;
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    for n in 0..count {
        checkpoint_save(&mut tx, run, &json!({ "n": n }), None, &agent())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    run
}

/// The run's checkpoints, newest first.
async fn held(store: &Store, tenant: TenantId, user: UserId, run: RunId) -> Vec<Checkpoint> {
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let all = checkpoint_list(&mut tx, run, None, 50).await.unwrap();
    tx.commit().await.unwrap();
    all
}

async fn pruned(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    retention: CheckpointRetention,
) -> Vec<CheckpointId> {
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let changed = checkpoints_prune_batch(&mut tx, retention, &agent())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        changed.events.len(),
        changed.value.len(),
        "one event per pruned checkpoint"
    );
    changed.value
}

#[tokio::test]
async fn checkpoints_beyond_the_newest_n_of_each_run_lose_their_state_and_each_is_recorded() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let long = run_with(&store, tenant, user, 5).await;
    let short = run_with(&store, tenant, user, 2).await;

    let gone = pruned(&store, tenant, user, CheckpointRetention::BeyondNewest(2)).await;
    assert_eq!(
        gone.len(),
        3,
        "the long run's three oldest; the short run is within"
    );

    let states: Vec<_> = held(&store, tenant, user, long)
        .await
        .into_iter()
        .map(|c| (c.state, c.pruned_at.is_some()))
        .collect();
    assert_eq!(
        states,
        [
            (Some(json!({ "n": 4 })), false),
            (Some(json!({ "n": 3 })), false),
            (None, true),
            (None, true),
            (None, true),
        ],
        "newest first: the rows stay, the superseded states go"
    );
    assert!(held(&store, tenant, user, short)
        .await
        .iter()
        .all(|c| c.state.is_some()));
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM orchestration_events d JOIN orchestration_events s ON s.id = d.causation_id
             WHERE d.event_type = 'CHECKPOINT_DELETED' AND d.aggregate_version = 2
               AND s.event_type = 'CHECKPOINT_SAVED' AND s.aggregate_id = d.aggregate_id
               AND d.correlation_id = s.correlation_id AND d.actor = 'agent:planner'
               AND d.event_data->>'reason' = 'keep latest 2'"
        )
        .await,
        3,
        "each pruning hangs from the save it prunes, in its run's correlation"
    );

    assert!(
        pruned(&store, tenant, user, CheckpointRetention::BeyondNewest(2))
            .await
            .is_empty(),
        "a second prune finds nothing and records nothing"
    );
    let report = data_check(&mut db.admin().await).await.unwrap();
    let failures: Vec<_> = report.failures().map(|r| (&r.check, &r.evidence)).collect();
    assert!(report.passed(), "{failures:#?}");
}

#[tokio::test]
async fn a_runs_newest_checkpoint_keeps_its_state_however_old() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let run = run_with(&store, tenant, user, 3).await;
    let lone = run_with(&store, tenant, user, 1).await;

    let future = chrono::Utc::now() + chrono::Duration::hours(1);
    let gone = pruned(&store, tenant, user, CheckpointRetention::Before(future)).await;
    assert_eq!(
        gone.len(),
        2,
        "every checkpoint is older, but each run keeps its newest"
    );

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    for (run, n) in [(run, 2), (lone, 0)] {
        let latest = checkpoint_load(&mut tx, run).await.unwrap().unwrap();
        assert_eq!(
            latest.state,
            Some(json!({ "n": n })),
            "a resume still loads it"
        );
    }
    tx.commit().await.unwrap();
    assert_eq!(
        db.text("SELECT event_data->>'reason' FROM orchestration_events WHERE event_type = 'CHECKPOINT_DELETED' LIMIT 1")
            .await
            .split(' ')
            .take(2)
            .collect::<Vec<_>>(),
        ["saved", "before"]
    );

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let err = checkpoints_prune_batch(&mut tx, CheckpointRetention::BeyondNewest(0), &agent())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
}

#[tokio::test]
async fn langgraph_threads_and_other_tenants_are_not_pruned() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let (other, other_user) = db.tenant(&store).await;
    for id in ["01", "02", "03"] {
        let p = put(
            key("t", "", id),
            None,
            json!({}),
            0,
            vec![value("a", id, b"v")],
        );
        stored(&store, tenant, user, &p).await.unwrap();
    }
    let theirs = run_with(&store, other, other_user, 3).await;

    assert!(
        pruned(&store, tenant, user, CheckpointRetention::BeyondNewest(1))
            .await
            .is_empty()
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM run_checkpoints WHERE state IS NULL")
            .await,
        0
    );
    assert_eq!(
        held(&store, other, other_user, theirs)
            .await
            .iter()
            .filter(|c| c.state.is_some())
            .count(),
        3
    );
}

/// More than one batch: the whole prune goes a transaction at a time.
#[tokio::test]
async fn a_prune_of_many_goes_a_batch_a_transaction() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let run = run_with(&store, tenant, user, 1_003).await;
    let total = checkpoints_prune(
        &store,
        tenant,
        user,
        CheckpointRetention::BeyondNewest(1),
        &agent(),
    )
    .await
    .unwrap();
    assert_eq!(
        total,
        CheckpointsPruned {
            documents: 0,
            states: 1_002
        }
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM run_checkpoints WHERE state IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(DISTINCT pruned_at) FROM run_checkpoints")
            .await,
        2,
        "two transactions (1,000 and 2)"
    );
    assert_eq!(
        held(&store, tenant, user, run).await[0].state,
        Some(json!({ "n": 1002 }))
    );
}
