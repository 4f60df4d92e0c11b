//! Driving a run through its lifecycle: every change checked against the
//! state machine, recorded as an event before the row changes, and tied to
//! the signal's correlation id.

use pplane_domain::{Actor, RetryPolicy, RunId, TenantId, UserId};
use pplane_store::operations::checkpoints::{checkpoint_load, checkpoint_save};
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::ingest::{Ingested, SignalInput};
use pplane_store::operations::runs::{run_finish, run_start, RunOutcome};
use pplane_store::operations::steps::{step_add, step_move, StepInput, StepMove};
use pplane_store::operations::tool_calls::{tool_call_finish, tool_call_start};
use pplane_store::operations::Origin;
use pplane_store::queries::debugging::DEBUG_QUERIES;
use pplane_store::repositories::events::event_causal_chain;
use pplane_store::testing::signal_ingest_alone;
use pplane_store::testing::TestDb;
use pplane_store::{Store, StoreError};
use serde_json::json;

use crate::support::scalar_as;

fn agent() -> Origin {
    Origin::by("agent:planner".parse::<Actor>().unwrap())
}

async fn ingested(store: &Store, tenant: TenantId, user: UserId) -> Ingested {
    let input = SignalInput {
        channel: "chat".into(),
        source_id: uuid::Uuid::now_v7().to_string(),
        payload: json!({ "question": "refund?" }),
        domain_refs: json!({ "customer": "C-7" }),
        actor: "user:alice".parse().unwrap(),
    };
    signal_ingest_alone(store, tenant, user, &input)
        .await
        .unwrap()
        .into_value()
}

fn step(step_type: &str) -> StepInput {
    StepInput {
        step_type: step_type.into(),
        step_index: None,
        input: Some(json!({ "q": 1 })),
    }
}

/// A whole run: steps, a tool call, a failure and its retry, a checkpoint,
/// an effect; every row and event carries the signal's correlation id, and
/// the causation chain leads from the root through every event.
#[tokio::test]
async fn a_run_from_signal_to_completion() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let got = ingested(&store, tenant, user).await;
    let by = agent();

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let run = run_start(&mut tx, got.run_id, &by).await.unwrap();
    assert_eq!((run.status.as_str(), run.version), ("RUNNING", 2));
    let plan = step_add(&mut tx, got.run_id, &step("plan"), &by)
        .await
        .unwrap();
    let plan_id = plan.id;
    assert_eq!(plan.step_index, 0);
    step_move(&mut tx, plan_id, &StepMove::Start, &by)
        .await
        .unwrap();
    let call = tool_call_start(
        &mut tx,
        plan_id,
        "search",
        &json!({ "q": "refund policy" }),
        &by,
    )
    .await
    .unwrap();
    let call_id = call.id;
    tool_call_finish(&mut tx, call_id, Err(&json!({ "code": 503 })), &by)
        .await
        .unwrap();
    let failed = step_move(
        &mut tx,
        plan_id,
        &StepMove::Fail {
            error: json!({ "reason": "tool down" }),
        },
        &by,
    )
    .await
    .unwrap();
    assert_eq!(failed.status.as_str(), "FAILED");
    let retried = step_move(
        &mut tx,
        plan_id,
        &StepMove::Retry {
            policy: RetryPolicy::default(),
        },
        &by,
    )
    .await
    .unwrap();
    assert_eq!(
        (retried.status.as_str(), retried.retry_count),
        ("PENDING", 1)
    );
    assert!(retried.next_retry_at.is_some() && retried.finished_at.is_none());
    step_move(&mut tx, plan_id, &StepMove::Start, &by)
        .await
        .unwrap();
    let call2 = tool_call_start(
        &mut tx,
        plan_id,
        "search",
        &json!({ "q": "refund policy" }),
        &by,
    )
    .await
    .unwrap();
    let done = tool_call_finish(&mut tx, call2.id, Ok(&json!({ "hits": 3 })), &by)
        .await
        .unwrap();
    assert_eq!(done.result, Some(json!({ "hits": 3 })));
    let completed = step_move(
        &mut tx,
        plan_id,
        &StepMove::Complete {
            output: Some(json!({ "plan": "refund" })),
        },
        &by,
    )
    .await
    .unwrap();
    assert_eq!(
        (completed.status.as_str(), completed.version),
        ("COMPLETED", 6)
    );

    destination_create(
        &mut tx,
        "mailer",
        &Target::Webhook("https://mail.example.com/hooks".into()),
    )
    .await
    .unwrap();
    let saved = checkpoint_save(
        &mut tx,
        got.run_id,
        &json!({ "memory": [1, 2] }),
        Some(0),
        &by,
    )
    .await
    .unwrap();
    let effect = effect_request(
        &mut tx,
        &EffectInput {
            run: got.run_id,
            step: Some(plan_id),
            effect_type: "SEND_EMAIL".into(),
            idempotency_key: "refund-C-7".into(),
            spec: json!({ "to": "c7@example.com", "destination": "mailer" }),
        },
        &by,
    )
    .await
    .unwrap();
    assert!(!effect.duplicate);
    assert_eq!(effect.effect.effect_spec["idempotency_key"], "refund-C-7");
    let finished = run_finish(&mut tx, got.run_id, &RunOutcome::Completed, &by)
        .await
        .unwrap();
    assert_eq!(finished.status.as_str(), "COMPLETED");
    let late = step_add(&mut tx, got.run_id, &step("late"), &by)
        .await
        .unwrap_err();
    assert!(
        late.to_string()
            .contains("is COMPLETED and takes no more steps"),
        "{late}"
    );
    tx.commit().await.unwrap();

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let loaded = checkpoint_load(&mut tx, got.run_id).await.unwrap().unwrap();
    assert_eq!(
        (loaded.id, loaded.state.clone()),
        (saved.id, Some(json!({ "memory": [1, 2] })))
    );
    let chain = event_causal_chain(tx.conn(), tenant, got.correlation_id)
        .await
        .unwrap();
    // The walkthrough's query exactly as written (section 8, step 7), with
    // only row-level security scoping it, finds the same chain.
    let literal = DEBUG_QUERIES
        .iter()
        .find(|q| q.name.starts_with("reconstruct 7"))
        .unwrap();
    let walked: Vec<(uuid::Uuid, String, Option<uuid::Uuid>, i32)> = sqlx::query_as(literal.sql)
        .bind(got.correlation_id.as_uuid())
        .fetch_all(tx.conn())
        .await
        .unwrap();
    let mut ours: Vec<_> = chain
        .iter()
        .map(|l| {
            let cause = l.causation_id.map(|c| c.as_uuid());
            (l.id.as_uuid(), l.event_type.to_string(), cause, l.depth)
        })
        .collect();
    let mut walked = walked;
    // Siblings share a depth, so only the set is the same, not the order.
    ours.sort();
    walked.sort();
    assert_eq!(walked, ours);
    drop(tx);

    let mut admin = db.admin().await;
    let ctx = Some((tenant, user));
    let events = scalar_as(
        &mut admin,
        "pplane_app",
        ctx,
        "SELECT count(*) FROM orchestration_events",
    )
    .await;
    let expected = [
        "SIGNAL_RECEIVED",
        "RUN_CREATED",
        "RUN_STARTED",
        "STEP_SCHEDULED",
        "STEP_STARTED",
        "TOOL_CALL_STARTED",
        "TOOL_CALL_FAILED",
        "STEP_FAILED",
        "STEP_RETRY_SCHEDULED",
        "STEP_STARTED",
        "TOOL_CALL_STARTED",
        "TOOL_CALL_COMPLETED",
        "STEP_COMPLETED",
        "CHECKPOINT_SAVED",
        "EFFECT_REQUESTED",
        "RUN_COMPLETED",
    ];
    assert_eq!(events, expected.len() as i64, "one event per change");
    // Every event is reached from the root, and each hangs from the event
    // of what it changed (docs/events.md, "Causation"): a tree, not a line.
    assert_eq!(
        chain.len(),
        expected.len(),
        "every event reached from the root"
    );
    assert_eq!(chain[0].event_type.as_str(), "SIGNAL_RECEIVED");
    let parent_of = |ty: &str, nth: usize| {
        let link = chain
            .iter()
            .filter(|l| l.event_type.as_str() == ty)
            .nth(nth)
            .unwrap();
        let parent = chain
            .iter()
            .find(|p| Some(p.id) == link.causation_id)
            .unwrap();
        assert_eq!(link.depth, parent.depth + 1);
        parent.event_type.as_str()
    };
    for (event, nth, parent) in [
        ("RUN_CREATED", 0, "SIGNAL_RECEIVED"),
        ("RUN_STARTED", 0, "RUN_CREATED"),
        ("STEP_SCHEDULED", 0, "RUN_STARTED"),
        ("STEP_STARTED", 0, "STEP_SCHEDULED"),
        ("TOOL_CALL_STARTED", 0, "STEP_STARTED"),
        ("TOOL_CALL_FAILED", 0, "TOOL_CALL_STARTED"),
        ("STEP_FAILED", 0, "STEP_STARTED"),
        ("STEP_RETRY_SCHEDULED", 0, "STEP_FAILED"),
        ("STEP_STARTED", 1, "STEP_RETRY_SCHEDULED"),
        ("STEP_COMPLETED", 0, "STEP_STARTED"),
        ("CHECKPOINT_SAVED", 0, "STEP_COMPLETED"),
        ("EFFECT_REQUESTED", 0, "STEP_COMPLETED"),
        ("RUN_COMPLETED", 0, "STEP_COMPLETED"),
    ] {
        assert_eq!(
            parent_of(event, nth),
            parent,
            "{event} #{nth} hangs from {parent}"
        );
    }

    let corr = got.correlation_id;
    for table in [
        "signals",
        "runs",
        "steps",
        "tool_calls",
        "run_checkpoints",
        "effects",
        "outbox_events",
        "orchestration_events",
    ] {
        let other = format!("SELECT count(*) FROM {table} WHERE correlation_id <> '{corr}'");
        assert_eq!(
            scalar_as(&mut admin, "pplane_app", ctx, &other).await,
            0,
            "{table} carries the correlation id"
        );
        let same = format!("SELECT count(*) FROM {table} WHERE correlation_id = '{corr}'");
        assert!(
            scalar_as(&mut admin, "pplane_app", ctx, &same).await > 0,
            "{table} has rows"
        );
    }
    let seq_gaps = "SELECT count(*) FROM (SELECT sequence_number - lag(sequence_number) OVER (ORDER BY sequence_number) AS d
                    FROM orchestration_events) g WHERE d <> 1";
    assert_eq!(scalar_as(&mut admin, "pplane_app", ctx, seq_gaps).await, 0);
}

/// An illegal move is a typed error and writes nothing.
#[tokio::test]
async fn illegal_transitions_write_nothing() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let got = ingested(&store, tenant, user).await;
    let by = agent();
    let mut admin = db.admin().await;
    let ctx = Some((tenant, user));
    let count = "SELECT count(*) FROM orchestration_events";
    let before = scalar_as(&mut admin, "pplane_app", ctx, count).await;

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let err = run_finish(&mut tx, got.run_id, &RunOutcome::Completed, &by)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "illegal run transition PENDING -> COMPLETED"
    );
    let s = step_add(&mut tx, got.run_id, &step("plan"), &by)
        .await
        .unwrap();
    let err = step_move(&mut tx, s.id, &StepMove::Complete { output: None }, &by)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)), "{err}");
    let err = step_move(
        &mut tx,
        s.id,
        &StepMove::Retry {
            policy: RetryPolicy::default(),
        },
        &by,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, StoreError::Transition(_)),
        "only a FAILED step is retried: {err}"
    );
    let err = tool_call_start(&mut tx, s.id, "search", &json!({}), &by)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("RUNNING step"), "{err}");
    tx.rollback().await.unwrap();
    assert_eq!(
        scalar_as(&mut admin, "pplane_app", ctx, count).await,
        before
    );

    let missing = run_start(
        &mut store.tenant_tx(tenant, user).await.unwrap(),
        RunId::new(),
        &by,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { entity: "run", .. }),
        "{missing}"
    );
}

/// A step is retried while the policy allows, then refused.
#[tokio::test]
async fn retries_run_out() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let got = ingested(&store, tenant, user).await;
    let by = agent();
    let policy = RetryPolicy {
        max_retries: 2,
        base_delay_ms: 10,
        max_delay_ms: 100,
    };
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    run_start(&mut tx, got.run_id, &by).await.unwrap();
    let id = step_add(&mut tx, got.run_id, &step("call"), &by)
        .await
        .unwrap()
        .id;
    for attempt in 1..=3 {
        step_move(&mut tx, id, &StepMove::Start, &by).await.unwrap();
        step_move(
            &mut tx,
            id,
            &StepMove::Fail {
                error: json!({ "attempt": attempt }),
            },
            &by,
        )
        .await
        .unwrap();
        let retry = step_move(&mut tx, id, &StepMove::Retry { policy }, &by).await;
        if attempt <= 2 {
            assert_eq!(retry.unwrap().retry_count, attempt);
        } else {
            let err = retry.unwrap_err();
            assert!(
                matches!(err, StoreError::RetriesExhausted { max_retries: 2, .. }),
                "{err}"
            );
        }
    }
}

/// Two transitions of the same run at once, each expecting the version it
/// read: exactly one wins, the other gets a version conflict and writes
/// nothing, whichever way the race goes.
#[tokio::test]
async fn concurrent_transitions_one_wins() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    for _ in 0..10 {
        let got = ingested(&store, tenant, user).await;
        let attempt = |store: Store| async move {
            let mut tx = store.tenant_tx(tenant, user).await?;
            let origin = Origin {
                expected_version: Some(1),
                ..agent()
            };
            let run = run_start(&mut tx, got.run_id, &origin).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(run)
        };
        let (a, b) = tokio::join!(
            tokio::spawn(attempt(store.clone())),
            tokio::spawn(attempt(store.clone()))
        );
        let results = [a.unwrap(), b.unwrap()];
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(
                loser,
                StoreError::VersionConflict {
                    entity: "run",
                    expected: 1,
                    ..
                }
            ),
            "{loser}"
        );
    }
    let mut admin = db.admin().await;
    let started = "SELECT count(*) FROM orchestration_events WHERE event_type = 'RUN_STARTED'";
    assert_eq!(
        scalar_as(&mut admin, "pplane_app", Some((tenant, user)), started).await,
        10
    );
}

/// Checkpoints: the latest one wins; an oversized state is refused by name,
/// and neither the checkpoint nor its event is written.
#[tokio::test]
async fn checkpoints_load_the_latest_and_refuse_oversized_state() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let got = ingested(&store, tenant, user).await;
    let by = agent();
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    assert!(checkpoint_load(&mut tx, got.run_id)
        .await
        .unwrap()
        .is_none());
    let first = checkpoint_save(&mut tx, got.run_id, &json!({ "n": 1 }), None, &by)
        .await
        .unwrap();
    let second = checkpoint_save(&mut tx, got.run_id, &json!({ "n": 2 }), Some(3), &by)
        .await
        .unwrap();
    assert!(second.event_sequence > first.event_sequence);
    let latest = checkpoint_load(&mut tx, got.run_id).await.unwrap().unwrap();
    assert_eq!(
        (latest.state.clone(), latest.last_step_index),
        (Some(json!({ "n": 2 })), Some(3))
    );

    let huge = json!({ "blob": "x".repeat(1024 * 1024) });
    let err = checkpoint_save(&mut tx, got.run_id, &huge, None, &by)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::PayloadTooLarge {
                field: "checkpoint state",
                limit: 1048576,
                ..
            }
        ),
        "{err}"
    );
    tx.commit().await.unwrap();
    let mut admin = db.admin().await;
    let ctx = Some((tenant, user));
    assert_eq!(
        scalar_as(
            &mut admin,
            "pplane_app",
            ctx,
            "SELECT count(*) FROM run_checkpoints"
        )
        .await,
        2
    );
    let saved = "SELECT count(*) FROM orchestration_events WHERE event_type = 'CHECKPOINT_SAVED'";
    assert_eq!(scalar_as(&mut admin, "pplane_app", ctx, saved).await, 2);
}
