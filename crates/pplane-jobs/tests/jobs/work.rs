//! What each job does: the purge deletes delivered entries past their
//! tenant's retention and nothing else, the prune keeps each thread's
//! newest checkpoints (and each run's) by its tenant's count, the refresh writes the
//! projections, and each run records what it changed.

use std::time::Duration;

use pplane_domain::{Job, JobResult};
use pplane_jobs::Ran;
use pplane_store::jobs::job_tenant_policy_set;
use pplane_store::operations::checkpoints::checkpoint_save;
use pplane_store::operations::ingest::SignalInput;
use pplane_store::operations::langgraph::{langgraph_checkpoint_put, CheckpointKey, CheckpointPut};
use pplane_store::operations::Origin;
use pplane_store::testing::{signal_ingest_alone, TestDb};
use serde_json::json;

use crate::support::{delivered_days_ago, jobs, outbox_count, tenant_with_effects};

const DAY: Duration = Duration::from_secs(86_400);

fn rows(ran: Ran) -> i64 {
    match ran {
        Ran::Ran { run } => {
            assert_eq!(run.result, JobResult::Ok, "{run:?}");
            run.rows.expect("an OK run counts its rows")
        }
        other => panic!("expected a run, got {other:?}"),
    }
}

#[tokio::test]
async fn the_purge_deletes_delivered_entries_past_their_tenants_retention() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (plain, _) = tenant_with_effects(&db, &store, 6).await;
    let (keeper, _) = tenant_with_effects(&db, &store, 4).await;
    delivered_days_ago(&db, plain, 3, 10).await;
    delivered_days_ago(&db, plain, 1, 1).await;
    delivered_days_ago(&db, keeper, 3, 10).await;
    let mut admin = db.admin().await;
    job_tenant_policy_set(&mut admin, Job::OutboxPurge, keeper, Some(30 * DAY), None)
        .await
        .unwrap();
    let events = "SELECT count(*) FROM orchestration_events";
    let before = db.scalar(events).await;

    let host = jobs(&db, &store, "host");
    assert_eq!(rows(host.run_job(Job::OutboxPurge, true).await.unwrap()), 3);
    // The plane's week: the three of 10 days went; the one of yesterday and
    // the two pending stay. The keeper's 30 days keep all of its own.
    assert_eq!(outbox_count(&db, plain).await, 3);
    assert_eq!(outbox_count(&db, keeper).await, 4);
    assert_eq!(db.scalar(events).await, before, "the log keeps every event");

    job_tenant_policy_set(&mut admin, Job::OutboxPurge, keeper, Some(5 * DAY), None)
        .await
        .unwrap();
    assert_eq!(rows(host.run_job(Job::OutboxPurge, true).await.unwrap()), 3);
    assert_eq!(outbox_count(&db, keeper).await, 1);
}

fn checkpoint(thread: &str, id: usize) -> CheckpointPut {
    let key = CheckpointKey {
        thread_id: thread.into(),
        checkpoint_ns: String::new(),
        checkpoint_id: format!("{id:04}"),
    };
    CheckpointPut {
        parent_checkpoint_id: id.checked_sub(1).map(|p| format!("{p:04}")),
        checkpoint: json!({ "v": 4, "id": key.checkpoint_id, "channel_versions": {}, "versions_seen": {} }),
        metadata: json!({ "source": "loop", "step": id }),
        key,
        values: Vec::new(),
    }
}

/// A signal on the chat channel from `source`.
fn signal(source: &str) -> SignalInput {
    SignalInput {
        channel: "chat".into(),
        source_id: source.into(),
        payload: json!({}),
        domain_refs: json!({}),
        actor: "user:alice".parse().unwrap(),
    }
}

#[tokio::test]
async fn the_prune_keeps_each_threads_and_runs_newest_checkpoints_by_its_tenants_count() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let origin = Origin::by("agent:graph".parse().unwrap());
    let mut tenants = Vec::new();
    for _ in 0..2 {
        let (tenant, user) = db.tenant(&store).await;
        let mut tx = store.tenant_tx(tenant, user).await.unwrap();
        for id in 0..25 {
            langgraph_checkpoint_put(&mut tx, &checkpoint("t1", id), &origin)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let run = signal_ingest_alone(&store, tenant, user, &signal("s1"))
            .await
            .unwrap()
            .into_value()
            .run_id;
        let mut tx = store.tenant_tx(tenant, user).await.unwrap();
        for n in 0..23 {
            checkpoint_save(&mut tx, run, &json!({ "n": n }), None, &origin)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        tenants.push(tenant);
    }
    let mut admin = db.admin().await;
    job_tenant_policy_set(&mut admin, Job::CheckpointPrune, tenants[1], None, Some(24))
        .await
        .unwrap();
    let host = jobs(&db, &store, "host");
    // The plane keeps the newest 20 of each thread and run; the second
    // tenant 24: 5 documents and 3 states of the first, 1 document of the
    // second (its run's 23 are within its 24).
    assert_eq!(
        rows(host.run_job(Job::CheckpointPrune, true).await.unwrap()),
        9
    );
    for (tenant, kept, states) in [(tenants[0], 20, 20), (tenants[1], 24, 23)] {
        let left = db
            .scalar(&format!(
                "SELECT count(*) FROM langgraph_checkpoints WHERE tenant_id = '{tenant}'"
            ))
            .await;
        assert_eq!(left, kept);
        let held = db
            .scalar(&format!(
                "SELECT count(*) FROM run_checkpoints c WHERE tenant_id = '{tenant}' AND state IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM langgraph_threads t WHERE t.tenant_id = c.tenant_id AND t.id = c.run_id)"
            ))
            .await;
        assert_eq!(held, states, "run checkpoints with their state");
    }
    let deleted = db
        .scalar("SELECT count(*) FROM orchestration_events WHERE event_type = 'CHECKPOINT_DELETED' AND actor = 'system:checkpoint-retention'")
        .await;
    assert_eq!(deleted, 9, "each deletion recorded, by the retention");
}

#[tokio::test]
async fn the_refresh_writes_the_projections() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    tenant_with_effects(&db, &store, 1).await;
    tenant_with_effects(&db, &store, 1).await;
    let host = jobs(&db, &store, "host");
    assert_eq!(
        rows(host.run_job(Job::ProjectionRefresh, true).await.unwrap()),
        2
    );
    assert_eq!(db.scalar("SELECT count(*) FROM run_summary").await, 2);
}
