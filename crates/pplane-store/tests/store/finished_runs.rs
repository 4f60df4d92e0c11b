//! A finished run stays finished: completing one needs every step and tool
//! call under it ended; failing or cancelling one cancels them, each with
//! its event; afterwards nothing under it changes. Concurrent requests that
//! race under one run (identical effects, appended steps, a completion
//! against a step's start) all end as one serial order would.

use pplane_domain::{RunId, StepId, TenantId, ToolCallId, UserId};
use pplane_store::checks::data::data_check;
use pplane_store::operations::checkpoints::checkpoint_save;
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::ingest::SignalInput;
use pplane_store::operations::runs::{run_finish, run_get, run_start, RunOutcome};
use pplane_store::operations::steps::{step_add, step_get, step_move, StepMove};
use pplane_store::operations::tool_calls::{tool_call_finish, tool_call_start};
use pplane_store::testing::signal_ingest_alone;
use pplane_store::testing::TestDb;
use pplane_store::{Store, StoreError};
use serde_json::json;

use crate::support::{agent, step_input};

/// A started run with a RUNNING step holding a RUNNING tool call, and a
/// PENDING step.
struct Busy {
    db: TestDb,
    store: Store,
    tenant: TenantId,
    user: UserId,
    run: RunId,
    running: StepId,
    pending: StepId,
    call: ToolCallId,
}

async fn busy_run() -> Busy {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let input = SignalInput {
        channel: "chat".into(),
        source_id: "busy".into(),
        payload: json!({}),
        domain_refs: json!({}),
        actor: "user:alice".parse().unwrap(),
    };
    let run = signal_ingest_alone(&store, tenant, user, &input)
        .await
        .unwrap()
        .run_id;
    let by = agent();
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    run_start(&mut tx, run, &by).await.unwrap();
    let running = step_add(&mut tx, run, &step_input("search"), &by)
        .await
        .unwrap();
    let running = running.id;
    step_move(&mut tx, running, &StepMove::Start, &by)
        .await
        .unwrap();
    let call = tool_call_start(&mut tx, running, "web.search", &json!({}), &by)
        .await
        .unwrap();
    let pending = step_add(&mut tx, run, &step_input("answer"), &by)
        .await
        .unwrap();
    destination_create(
        &mut tx,
        "hook",
        &Target::Webhook("https://example.com/h".into()),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Busy {
        db,
        store,
        tenant,
        user,
        run,
        running,
        pending: pending.id,
        call: call.id,
    }
}

async fn events_of(b: &Busy) -> i64 {
    let mut admin = b.db.admin().await;
    sqlx::query_scalar("SELECT count(*) FROM orchestration_events")
        .fetch_one(admin.conn())
        .await
        .unwrap()
}

#[tokio::test]
async fn completing_a_run_with_live_children_is_refused_and_writes_nothing() {
    let b = busy_run().await;
    let before = events_of(&b).await;
    let mut tx = b.store.tenant_tx(b.tenant, b.user).await.unwrap();
    let err = run_finish(&mut tx, b.run, &RunOutcome::Completed, &agent())
        .await
        .unwrap_err();
    tx.rollback().await.unwrap();
    assert!(matches!(err, StoreError::RunUnsettled { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "run {} still has 1 RUNNING step, 1 PENDING step and 1 RUNNING tool call: complete, \
             skip or cancel them first (failing or cancelling the run cancels them)",
            b.run
        )
    );
    assert_eq!(events_of(&b).await, before, "nothing was appended");
}

#[tokio::test]
async fn failing_a_run_cancels_its_live_children_with_their_events() {
    let b = busy_run().await;
    let mut tx = b.store.tenant_tx(b.tenant, b.user).await.unwrap();
    let failed = run_finish(
        &mut tx,
        b.run,
        &RunOutcome::Failed {
            error: json!({ "reason": "model unavailable" }),
        },
        &agent(),
    )
    .await
    .unwrap();
    assert_eq!(failed.status.as_str(), "FAILED");
    for step in [b.running, b.pending] {
        assert_eq!(
            step_get(&mut tx, step).await.unwrap().status.as_str(),
            "CANCELLED"
        );
    }
    tx.commit().await.unwrap();

    // Each cancellation is an event caused by RUN_FAILED.
    let mut admin = b.db.admin().await;
    let caused: Vec<(String, String)> = sqlx::query_as(
        "SELECT e.event_type::text, c.event_type::text FROM orchestration_events e
         JOIN orchestration_events c ON c.id = e.causation_id
         WHERE e.event_type IN ('STEP_CANCELLED', 'TOOL_CALL_CANCELLED') ORDER BY e.sequence_number",
    )
    .fetch_all(admin.conn())
    .await
    .unwrap();
    assert_eq!(
        caused,
        [
            ("TOOL_CALL_CANCELLED".into(), "RUN_FAILED".into()),
            ("STEP_CANCELLED".into(), "RUN_FAILED".into()),
            ("STEP_CANCELLED".into(), "RUN_FAILED".into()),
        ]
    );
    let report = data_check(&mut admin).await.unwrap();
    let failures: Vec<_> = report.failures().map(|r| (&r.check, &r.evidence)).collect();
    assert!(report.passed(), "{failures:#?}");
}

#[tokio::test]
async fn a_finished_run_takes_no_change_to_anything_under_it() {
    let b = busy_run().await;
    let by = agent();
    let mut tx = b.store.tenant_tx(b.tenant, b.user).await.unwrap();
    tool_call_finish(&mut tx, b.call, Ok(&json!({ "hits": 3 })), &by)
        .await
        .unwrap();
    step_move(
        &mut tx,
        b.running,
        &StepMove::Complete { output: None },
        &by,
    )
    .await
    .unwrap();
    step_move(
        &mut tx,
        b.pending,
        &StepMove::Skip {
            reason: "no need".into(),
        },
        &by,
    )
    .await
    .unwrap();
    run_finish(&mut tx, b.run, &RunOutcome::Completed, &by)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let before = events_of(&b).await;

    // Every kind of change under the completed run, each in its own
    // transaction: refused as a finished run, nothing written.
    let effect = EffectInput {
        run: b.run,
        step: None,
        effect_type: "NOTIFY".into(),
        idempotency_key: "late".into(),
        spec: json!({ "destination": "hook" }),
    };
    let mut refusals = Vec::new();
    macro_rules! attempt {
        ($what:expr, |$tx:ident| $op:expr) => {{
            let mut owned = b.store.tenant_tx(b.tenant, b.user).await.unwrap();
            let $tx = &mut owned;
            let result = $op.await;
            refusals.push(($what, result.map(|_| ()).unwrap_err()));
        }};
    }
    attempt!("add a step", |tx| step_add(
        tx,
        b.run,
        &step_input("more"),
        &by
    ));
    attempt!("start a step", |tx| step_move(
        tx,
        b.pending,
        &StepMove::Start,
        &by
    ));
    attempt!("start a tool call", |tx| tool_call_start(
        tx,
        b.running,
        "x",
        &json!({}),
        &by
    ));
    attempt!("finish a tool call", |tx| tool_call_finish(
        tx,
        b.call,
        Ok(&json!(1)),
        &by
    ));
    attempt!("save a checkpoint", |tx| checkpoint_save(
        tx,
        b.run,
        &json!({}),
        None,
        &by
    ));
    attempt!("request an effect", |tx| effect_request(tx, &effect, &by));
    attempt!("cancel the run", |tx| run_finish(
        tx,
        b.run,
        &RunOutcome::Cancelled { reason: "x".into() },
        &by
    ));
    for (what, err) in &refusals {
        let finished = matches!(
            err,
            StoreError::RunFinished {
                status: "COMPLETED",
                ..
            }
        );
        let illegal = matches!(err, StoreError::Transition(_));
        assert!(finished || illegal, "{what}: {err}");
    }
    let (_, add) = &refusals[0];
    assert_eq!(
        add.to_string(),
        format!("run {} is COMPLETED and takes no more steps", b.run)
    );
    assert_eq!(events_of(&b).await, before, "nothing was appended");
}

#[tokio::test]
async fn ten_identical_effect_requests_at_once_return_the_one_effect() {
    let b = busy_run().await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (store, tenant, user, run) = (b.store.clone(), b.tenant, b.user, b.run);
        tasks.push(tokio::spawn(async move {
            let effect = EffectInput {
                run,
                step: None,
                effect_type: "NOTIFY".into(),
                idempotency_key: "same-key".into(),
                spec: json!({ "destination": "hook", "to": "c@example.com" }),
            };
            let mut tx = store.tenant_tx(tenant, user).await.unwrap();
            let got = effect_request(&mut tx, &effect, &agent()).await?;
            tx.commit().await?;
            Ok::<_, StoreError>((got.effect.id, got.duplicate))
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().expect("every request succeeds"));
    }
    let first = results[0].0;
    assert!(results.iter().all(|(id, _)| *id == first), "{results:?}");
    assert_eq!(
        results.iter().filter(|(_, dup)| !dup).count(),
        1,
        "{results:?}"
    );
}

#[tokio::test]
async fn steps_appended_at_once_each_get_the_next_index() {
    let b = busy_run().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, tenant, user, run) = (b.store.clone(), b.tenant, b.user, b.run);
        tasks.push(tokio::spawn(async move {
            let mut tx = store.tenant_tx(tenant, user).await.unwrap();
            let s = step_add(&mut tx, run, &step_input(&format!("fan-{i}")), &agent()).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(s.step_index)
        }));
    }
    let mut indexes = Vec::new();
    for t in tasks {
        indexes.push(t.await.unwrap().expect("every append succeeds"));
    }
    indexes.sort();
    // The run already had steps 0 and 1.
    assert_eq!(indexes, (2..10).collect::<Vec<_>>());
}

/// A step's start and the run's cancellation race: whichever commits
/// first, the run never ends with a live step under it.
#[tokio::test]
async fn a_run_cannot_end_under_a_change_in_flight() {
    for _ in 0..5 {
        let b = busy_run().await;
        let (store, tenant, user) = (b.store.clone(), b.tenant, b.user);
        let pending = b.pending;
        let start = tokio::spawn(async move {
            let mut tx = store.tenant_tx(tenant, user).await.unwrap();
            if step_move(&mut tx, pending, &StepMove::Start, &agent())
                .await
                .is_ok()
            {
                tx.commit().await.unwrap();
            }
        });
        let mut tx = b.store.tenant_tx(b.tenant, b.user).await.unwrap();
        let cancel = RunOutcome::Cancelled {
            reason: "user left".into(),
        };
        run_finish(&mut tx, b.run, &cancel, &agent()).await.unwrap();
        tx.commit().await.unwrap();
        start.await.unwrap();
        let mut tx = b.store.tenant_tx(b.tenant, b.user).await.unwrap();
        assert_eq!(
            run_get(&mut tx, b.run).await.unwrap().status.as_str(),
            "CANCELLED"
        );
        assert_eq!(
            step_get(&mut tx, pending).await.unwrap().status.as_str(),
            "CANCELLED"
        );
        tx.rollback().await.unwrap();
    }
}
