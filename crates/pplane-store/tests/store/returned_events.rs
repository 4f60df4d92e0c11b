//! Every operation returns what it changed and the events it appended, in
//! order, with their positions: what it says is what the log holds, and a
//! caller can name any of them as the cause of its next change. A duplicate
//! (the change already made) appends nothing and says so.

use pplane_domain::{EventType, RunStatus, StepStatus};
use pplane_store::operations::checkpoints::checkpoint_save;
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::ingest::SignalInput;
use pplane_store::operations::runs::{run_finish, run_start, RunOutcome};
use pplane_store::operations::steps::{step_add, step_move, StepMove};
use pplane_store::operations::tool_calls::tool_call_start;
use pplane_store::operations::{Origin, Recorded};
use pplane_store::queries::events::{events_of_correlation, Event};
use pplane_store::testing::signal_ingest_alone;
use pplane_store::testing::TestDb;
use serde_json::json;

use crate::support::{agent, step_input};

/// The returned events, as (type, aggregate) read back from the log by id
/// and position.
fn in_log(log: &[Event], returned: &[Recorded]) -> Vec<(EventType, uuid::Uuid)> {
    returned
        .iter()
        .map(|r| {
            let e = log
                .iter()
                .find(|e| e.id == r.event_id)
                .unwrap_or_else(|| panic!("returned event {} is not in the log", r.event_id));
            assert_eq!(e.sequence_number, r.sequence_number, "{:?}", e.event_type);
            (e.event_type, e.aggregate_id)
        })
        .collect()
}

#[tokio::test]
async fn each_operation_returns_the_events_the_log_holds() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let by = agent();
    let signal = SignalInput {
        channel: "support".into(),
        source_id: "T-1".into(),
        payload: json!({ "subject": "refund" }),
        domain_refs: json!({ "order": "O-1" }),
        actor: "external:helpdesk".parse().unwrap(),
    };
    let ingested = signal_ingest_alone(&store, tenant, user, &signal)
        .await
        .unwrap();
    let again = signal_ingest_alone(&store, tenant, user, &signal)
        .await
        .unwrap();
    assert!(again.duplicate && again.events.is_empty(), "{again:?}");

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let run = ingested.run_id;
    let started = run_start(&mut tx, run, &by).await.unwrap();
    let step = step_add(&mut tx, run, &step_input("lookup"), &by)
        .await
        .unwrap();
    let moved = step_move(&mut tx, step.id, &StepMove::Start, &by)
        .await
        .unwrap();
    let call = tool_call_start(&mut tx, step.id, "orders.get", &json!({}), &by)
        .await
        .unwrap();
    let saved = checkpoint_save(&mut tx, run, &json!({ "at": 1 }), Some(0), &by)
        .await
        .unwrap();
    destination_create(&mut tx, "mailer", &Target::Nats("mail.out".into()))
        .await
        .unwrap();
    let email = EffectInput {
        run,
        step: Some(step.id),
        effect_type: "SEND_EMAIL".into(),
        idempotency_key: "mail-1".into(),
        spec: json!({ "destination": "mailer" }),
    };
    // Named as caused by the tool call's start: any returned event will do.
    let because = Origin {
        caused_by: call.event().map(|e| e.event_id),
        ..by.clone()
    };
    let requested = effect_request(&mut tx, &email, &because).await.unwrap();
    let repeated = effect_request(&mut tx, &email, &by).await.unwrap();
    assert!(repeated.duplicate && repeated.events.is_empty());
    assert_eq!(repeated.effect.id, requested.effect.id);
    let failed = RunOutcome::Failed {
        error: json!({ "reason": "gave up" }),
    };
    let ended = run_finish(&mut tx, run, &failed, &by).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let log = events_of_correlation(&mut tx, ingested.correlation_id)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    use EventType::*;
    let (run_id, step_id) = (run.as_uuid(), step.id.as_uuid());
    assert_eq!(
        in_log(&log, &ingested.events),
        [
            (SignalReceived, ingested.signal_id.as_uuid()),
            (RunCreated, run_id)
        ]
    );
    assert_eq!(in_log(&log, &started.events), [(RunStarted, run_id)]);
    assert_eq!(in_log(&log, &step.events), [(StepScheduled, step_id)]);
    assert_eq!(in_log(&log, &moved.events), [(StepStarted, step_id)]);
    assert_eq!(
        in_log(&log, &call.events),
        [(ToolCallStarted, call.id.as_uuid())]
    );
    assert_eq!(
        in_log(&log, &saved.events),
        [(CheckpointSaved, saved.id.as_uuid())]
    );
    assert_eq!(
        in_log(&log, &requested.events),
        [(EffectRequested, requested.effect.id.as_uuid())]
    );
    // A failed run cancels what was live under it: the call, then the step.
    assert_eq!(
        in_log(&log, &ended.events),
        [
            (RunFailed, run_id),
            (ToolCallCancelled, call.id.as_uuid()),
            (StepCancelled, step_id)
        ]
    );
    // The changed rows came back as they are now, typed.
    assert_eq!(ended.status, RunStatus::Failed);
    assert_eq!(moved.status, StepStatus::Running);
    assert_eq!(ended.causation_id, ended.event().map(|e| e.event_id));
    let request = log
        .iter()
        .find(|e| e.event_type == EffectRequested)
        .unwrap();
    assert_eq!(request.causation_id, call.event().map(|e| e.event_id));
    // Nothing else was appended.
    let returned = [
        &ingested.events,
        &started.events,
        &step.events,
        &moved.events,
        &call.events,
        &saved.events,
        &requested.events,
        &ended.events,
    ];
    assert_eq!(log.len(), returned.iter().map(|r| r.len()).sum::<usize>());
}
