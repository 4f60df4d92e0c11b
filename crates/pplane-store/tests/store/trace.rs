//! A trace reconstructs a run's whole story in one round trip, by run id or
//! by correlation id, and shows another tenant nothing.

use pplane_domain::RetryPolicy;
use pplane_store::operations::ingest::SignalInput;
use pplane_store::operations::runs::{run_finish, run_start, RunOutcome};
use pplane_store::operations::steps::{step_add, step_move, StepInput, StepMove};
use pplane_store::operations::tool_calls::{tool_call_finish, tool_call_start};
use pplane_store::operations::Origin;
use pplane_store::queries::trace::trace_load;
use pplane_store::testing::signal_ingest_alone;
use pplane_store::testing::TestDb;
use serde_json::json;

#[tokio::test]
async fn a_trace_holds_the_seven_steps_in_order() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let by = Origin::by("agent:planner".parse().unwrap());
    let got = signal_ingest_alone(
        &store,
        tenant,
        user,
        &SignalInput {
            channel: "chat".into(),
            source_id: "t-1".into(),
            payload: json!({ "q": "refund?" }),
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
    let lookup = step_add(&mut tx, got.run_id, &input("lookup"), &by)
        .await
        .unwrap();
    let lookup = lookup.id;
    step_move(&mut tx, lookup, &StepMove::Start, &by)
        .await
        .unwrap();
    let call = tool_call_start(&mut tx, lookup, "orders.get", &json!({}), &by)
        .await
        .unwrap();
    let failure = json!({ "status": 503 });
    tool_call_finish(&mut tx, call.id, Err(&failure), &by)
        .await
        .unwrap();
    step_move(
        &mut tx,
        lookup,
        &StepMove::Fail {
            error: json!("503"),
        },
        &by,
    )
    .await
    .unwrap();
    let policy = RetryPolicy {
        base_delay_ms: 0,
        ..RetryPolicy::default()
    };
    step_move(&mut tx, lookup, &StepMove::Retry { policy }, &by)
        .await
        .unwrap();
    step_move(&mut tx, lookup, &StepMove::Start, &by)
        .await
        .unwrap();
    step_move(&mut tx, lookup, &StepMove::Complete { output: None }, &by)
        .await
        .unwrap();
    let answer = step_add(&mut tx, got.run_id, &input("answer"), &by)
        .await
        .unwrap();
    step_move(&mut tx, answer.id, &StepMove::Start, &by)
        .await
        .unwrap();
    step_move(
        &mut tx,
        answer.id,
        &StepMove::Complete { output: None },
        &by,
    )
    .await
    .unwrap();
    run_finish(&mut tx, got.run_id, &RunOutcome::Completed, &by)
        .await
        .unwrap();

    let by_run = trace_load(&mut tx, got.run_id.as_uuid())
        .await
        .unwrap()
        .unwrap();
    let by_correlation = trace_load(&mut tx, got.correlation_id.as_uuid())
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(by_run.correlation_id, got.correlation_id);
    assert_eq!(by_correlation.events.len(), by_run.events.len());
    assert_eq!(by_run.signal.as_ref().unwrap().source_id, "t-1");
    assert_eq!(by_run.runs.len(), 1);
    assert_eq!(by_run.runs[0].status.as_str(), "COMPLETED");
    let steps: Vec<_> = by_run
        .steps
        .iter()
        .map(|s| (s.step_index, s.step_type.as_str()))
        .collect();
    assert_eq!(steps, [(0, "lookup"), (1, "answer")]);
    assert_eq!(by_run.steps[0].retry_count, 1);
    assert_eq!(by_run.tool_calls.len(), 1);
    assert_eq!(by_run.tool_calls[0].status.as_str(), "FAILED");
    let positions: Vec<i64> = by_run.events.iter().map(|e| e.sequence_number).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "events in log order"
    );
    assert_eq!(by_run.events[0].event_type.as_str(), "SIGNAL_RECEIVED");
    assert_eq!(
        by_run.events.last().unwrap().event_type.as_str(),
        "RUN_COMPLETED"
    );
    assert_eq!(
        by_run.chain.len(),
        by_run.events.len(),
        "every event is reachable from the root"
    );
    assert_eq!(by_run.chain[0].depth, 0);

    let (other, other_user) = db.tenant(&store).await;
    let mut tx = store.tenant_tx(other, other_user).await.unwrap();
    let seen = trace_load(&mut tx, got.run_id.as_uuid()).await.unwrap();
    assert!(seen.is_none(), "another tenant traces nothing");
    tx.commit().await.unwrap();
}
