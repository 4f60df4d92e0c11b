//! The walkthrough's debugging procedure on Citus: trace and diagnose read
//! a tenant's run whole, and every debugging query is one task on the
//! tenant's worker and reads through an index (the production gate's plan
//! items, from each query's EXPLAIN).

use pplane_domain::{Actor, RunId, StepId, TenantId, UserId};
use pplane_store::checks::gate::{debugging_plans, Verdict};
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::ingest::SignalInput;
use pplane_store::operations::runs::run_start;
use pplane_store::operations::steps::{step_add, step_move, StepInput, StepMove};
use pplane_store::operations::Origin;
use pplane_store::queries::diagnose::diagnose_run;
use pplane_store::queries::trace::trace_load;
use pplane_store::testing::citus::CitusDb;
use pplane_store::testing::signal_ingest_alone;
use pplane_store::Store;
use serde_json::json;

fn origin() -> Origin {
    Origin::by("agent:planner".parse::<Actor>().unwrap())
}

/// A run with one failed step and one requested effect, through the
/// operations an orchestrator calls.
async fn failed_run(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    source: &str,
) -> (RunId, StepId) {
    let got = signal_ingest_alone(
        store,
        tenant,
        user,
        &SignalInput {
            channel: "chat".into(),
            source_id: source.into(),
            payload: json!({ "text": "refund order 42" }),
            domain_refs: json!({ "order": "42" }),
            actor: "user:alice".parse().unwrap(),
        },
    )
    .await
    .unwrap();
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    destination_create(
        &mut tx,
        "mail",
        &Target::Webhook("http://127.0.0.1:9/mail".into()),
    )
    .await
    .unwrap();
    run_start(&mut tx, got.run_id, &origin()).await.unwrap();
    let step = step_add(
        &mut tx,
        got.run_id,
        &StepInput {
            step_type: "refund".into(),
            step_index: None,
            input: None,
        },
        &origin(),
    )
    .await
    .unwrap()
    .value;
    step_move(&mut tx, step.id, &StepMove::Start, &origin())
        .await
        .unwrap();
    step_move(
        &mut tx,
        step.id,
        &StepMove::Fail {
            error: json!({ "message": "payment gateway timeout" }),
        },
        &origin(),
    )
    .await
    .unwrap();
    effect_request(
        &mut tx,
        &EffectInput {
            run: got.run_id,
            step: None,
            effect_type: "EMAIL".into(),
            idempotency_key: format!("{source}-email"),
            spec: json!({ "destination": "mail", "to": "alice@example.com" }),
        },
        &origin(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (got.run_id, step.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_diagnose_and_every_debugging_query_stay_on_one_shard() {
    let db = CitusDb::migrated().await;
    let store = db.store(4).await;
    let mut runs = Vec::new();
    for i in 0..4 {
        let (tenant, user) = db.tenant(&store).await;
        let (run, step) = failed_run(&store, tenant, user, &format!("conv-{i}")).await;
        runs.push((tenant, user, run, step));
    }

    let (tenant, user, run, step) = runs[0];
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let trace = trace_load(&mut tx, run.as_uuid())
        .await
        .unwrap()
        .expect("a trace");
    assert!(trace.signal.is_some());
    assert_eq!(trace.runs.len(), 1);
    assert_eq!(trace.steps.len(), 1);
    assert_eq!((trace.effects.len(), trace.outbox.len()), (1, 1));
    let types: Vec<&str> = trace.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "SIGNAL_RECEIVED",
            "RUN_CREATED",
            "RUN_STARTED",
            "STEP_SCHEDULED",
            "STEP_STARTED",
            "STEP_FAILED",
            "EFFECT_REQUESTED"
        ]
    );
    assert!(
        trace
            .events
            .windows(2)
            .all(|w| w[1].sequence_number == w[0].sequence_number + 1),
        "the tenant's positions are gap-free"
    );
    assert!(!trace.chain.is_empty(), "the causation query answered");
    let diagnosis = diagnose_run(&mut tx, run)
        .await
        .unwrap()
        .expect("a diagnosis");
    assert_eq!(diagnosis.troubled_steps.len(), 1);
    assert_eq!(diagnosis.troubled_steps[0].step.id, step);
    assert_eq!(diagnosis.troubled_steps[0].failures.len(), 1);
    tx.rollback().await.unwrap();

    // Another tenant's member sees nothing of it.
    let (other, other_user, _, _) = runs[1];
    let mut tx = store.tenant_tx(other, other_user).await.unwrap();
    assert!(trace_load(&mut tx, run.as_uuid()).await.unwrap().is_none());
    tx.rollback().await.unwrap();

    let items = debugging_plans(&mut db.admin().await).await.unwrap();
    let routed: Vec<_> = items
        .iter()
        .filter(|i| i.item.starts_with("routes to one shard"))
        .collect();
    assert!(routed.len() >= 5, "{items:#?}");
    let failed: Vec<_> = items
        .iter()
        .filter(|i| i.verdict == Verdict::Fail)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(
        routed.iter().all(|i| i.verdict == Verdict::Pass),
        "{routed:#?}"
    );
}
