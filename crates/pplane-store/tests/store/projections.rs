//! `run_summary`: refreshed from the runtime tables, rebuilt from the event
//! log and proved equal to them, fenced by tenant like every table, and
//! read by no business code.

use pplane_domain::{RetryPolicy, TenantId, UserId};
use pplane_store::operations::ingest::SignalInput;
use pplane_store::operations::runs::{run_finish, run_start, RunOutcome};
use pplane_store::operations::steps::{step_add, step_move, StepInput, StepMove};
use pplane_store::operations::Origin;
use pplane_store::projections::{projections_rebuild, projections_refresh, run_summaries};
use pplane_store::testing::signal_ingest_alone;
use pplane_store::testing::TestDb;
use pplane_store::{Store, StoreError};
use serde_json::json;

/// A run with a retried step and a failed one, finished as FAILED.
async fn drive(store: &Store, tenant: TenantId, user: UserId, source: &str) -> uuid::Uuid {
    let by = Origin::by("agent:planner".parse().unwrap());
    let got = signal_ingest_alone(
        store,
        tenant,
        user,
        &SignalInput {
            channel: "chat".into(),
            source_id: source.into(),
            payload: json!({}),
            domain_refs: json!({}),
            actor: "user:alice".parse().unwrap(),
        },
    )
    .await
    .unwrap();
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    run_start(&mut tx, got.run_id, &by).await.unwrap();
    let input = |t: &str| StepInput {
        step_type: t.into(),
        step_index: None,
        input: None,
    };
    let a = step_add(&mut tx, got.run_id, &input("a"), &by)
        .await
        .unwrap()
        .id;
    let policy = RetryPolicy {
        base_delay_ms: 0,
        ..RetryPolicy::default()
    };
    for m in [
        StepMove::Start,
        StepMove::Fail { error: json!(1) },
        StepMove::Retry { policy },
        StepMove::Start,
        StepMove::Complete { output: None },
    ] {
        step_move(&mut tx, a, &m, &by).await.unwrap();
    }
    let b = step_add(&mut tx, got.run_id, &input("b"), &by)
        .await
        .unwrap()
        .id;
    step_move(&mut tx, b, &StepMove::Start, &by).await.unwrap();
    step_move(&mut tx, b, &StepMove::Fail { error: json!(2) }, &by)
        .await
        .unwrap();
    run_finish(
        &mut tx,
        got.run_id,
        &RunOutcome::Failed {
            error: json!("b failed"),
        },
        &by,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    got.run_id.as_uuid()
}

#[tokio::test]
async fn refresh_projects_each_run_and_members_see_only_their_tenant() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (a, user_a) = db.tenant(&store).await;
    let (b, user_b) = db.tenant(&store).await;
    let run = drive(&store, a, user_a, "1").await;
    drive(&store, b, user_b, "2").await;

    let refreshed = projections_refresh(&mut db.admin().await).await.unwrap();
    assert_eq!((refreshed.rows, refreshed.removed), (2, 0));

    let mut tx = store.tenant_tx(a, user_a).await.unwrap();
    let rows = run_summaries(&mut tx, 10).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows.len(), 1, "tenant A sees its own run only");
    let row = &rows[0];
    assert_eq!((row.run_id.as_uuid(), row.status.as_str()), (run, "FAILED"));
    assert_eq!(
        (
            row.steps_total,
            row.steps_completed,
            row.steps_failed,
            row.retries
        ),
        (2, 1, 1, 1)
    );
    assert!(row.duration_ms.unwrap() >= 0.0);

    let outsider = UserId::new();
    let refused = store.tenant_tx(a, outsider).await.unwrap_err();
    assert!(matches!(refused, StoreError::NotMember(_)), "{refused}");
    let denied = db
        .exec_as_app_fails(
            a,
            user_a,
            "INSERT INTO run_summary SELECT * FROM run_summary",
        )
        .await;
    assert!(denied.contains("permission denied"), "{denied}");
}

#[tokio::test]
async fn rebuild_replays_the_log_and_refuses_when_it_disagrees_with_the_tables() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (a, user_a) = db.tenant(&store).await;
    let run = drive(&store, a, user_a, "1").await;
    drive(&store, a, user_a, "2").await;

    let rebuilt = projections_rebuild(&mut db.admin().await).await.unwrap();
    assert!(rebuilt.mismatches.is_empty(), "{:?}", rebuilt.mismatches);
    assert_eq!(rebuilt.rows, 2);
    assert_eq!(db.scalar("SELECT count(*) FROM run_summary").await, 2);

    // A runtime row changed behind the log's back: the replay disagrees,
    // names the run, and leaves the projection as it was.
    db.exec(&format!(
        "UPDATE steps SET retry_count = 7 WHERE run_id = '{run}' AND step_index = 0"
    ))
    .await;
    db.exec("DELETE FROM run_summary").await;
    let rebuilt = projections_rebuild(&mut db.admin().await).await.unwrap();
    assert!(
        rebuilt
            .mismatches
            .iter()
            .any(|m| m.contains(&run.to_string()) && m.contains("7 retries")),
        "{:?}",
        rebuilt.mismatches
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM run_summary").await,
        0,
        "nothing replaced"
    );
}

/// The rule: business code never reads a projection. The code that makes
/// decisions (repositories, operations, queries, the worker, the run
/// commands) may not name one; only the projections module and the command
/// that refreshes and shows them do.
#[test]
fn no_business_code_reads_a_projection() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let business = [
        "pplane-store/src/repositories",
        "pplane-store/src/operations",
        "pplane-store/src/queries",
        "pplane-worker/src",
        "pplane-cli/src",
    ];
    let allowed = "pplane-cli/src/commands/projections.rs";
    let mut offenders = Vec::new();
    let mut stack: Vec<_> = business
        .iter()
        .map(|d| std::path::Path::new(root).join(d))
        .collect();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.ends_with(allowed)
                && std::fs::read_to_string(&path)
                    .unwrap()
                    .contains("run_summary")
            {
                offenders.push(path);
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "projections read by business code: {offenders:?}"
    );
}
