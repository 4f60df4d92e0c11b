//! Every repository method, called in tenant A's context with tenant B's ids
//! (and with B's tenant id itself), finds nothing and changes nothing.

use pplane_domain::{
    Actor, CheckpointId, CorrelationId, EffectId, EventId, EventType, OutboxId, RunId, SignalId,
    StepId, ToolCallId,
};
use pplane_store::operations::runs::run_start;
use pplane_store::operations::steps::{step_add, StepInput};
use pplane_store::operations::Origin;
use pplane_store::repositories::events::PendingMove;
use pplane_store::repositories::{
    checkpoints, effects, events, runs, signals, steps, tenants, tool_calls, StatusChange,
};
use pplane_store::testing::TestDb;
use pplane_store::StoreError;
use serde_json::json;

use crate::support::scalar_as;

const SNAPSHOT: &str = "SELECT (SELECT count(*) FROM orchestration_events) * 1000000
     + (SELECT coalesce(sum(version), 0) FROM runs) * 1000 + (SELECT coalesce(sum(version), 0) FROM steps)
     + (SELECT coalesce(sum(version), 0) FROM tool_calls) + (SELECT count(*) FROM effects)
     + (SELECT count(*) FROM run_checkpoints) + (SELECT count(*) FROM signals)
     + (SELECT coalesce(sum(pending_effects + pending_bytes), 0)::int8 FROM tenant_event_heads)";

#[tokio::test]
async fn every_repository_method_is_blind_to_another_tenant() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (a, user_a) = db.tenant(&store).await;
    let (b, user_b) = db.tenant(&store).await;
    let rows = db.seed_each_table(b, user_b).await;
    // B's head row, where its quota counts are kept (the raw seed writes
    // none): its last position and its one open entry.
    db.exec(&format!(
        "INSERT INTO tenant_event_heads (tenant_id, last_sequence, pending_effects, pending_bytes)
         SELECT '{b}', (SELECT max(sequence_number) FROM orchestration_events WHERE tenant_id = '{b}'),
                count(*), coalesce(sum(octet_length(payload::text)), 0)
         FROM outbox_events WHERE tenant_id = '{b}' AND status IN ('PENDING', 'IN_FLIGHT')"
    ))
    .await;
    let mut admin = db.admin().await;
    let before = scalar_as(&mut admin, "pplane_app", Some((b, user_b)), SNAPSHOT).await;

    let actor: Actor = "agent:intruder".parse().unwrap();
    let change = StatusChange {
        expected_version: 1,
        status: "RUNNING",
        output: None,
        error: None,
        next_retry_at: None,
        causation: EventId::from_uuid(rows.event),
        actor: &actor,
    };
    let (signal, run, step) = (
        SignalId::from_uuid(rows.signal),
        RunId::from_uuid(rows.run),
        StepId::from_uuid(rows.step),
    );
    let call = ToolCallId::from_uuid(rows.tool_call);
    let correlation = CorrelationId::from_uuid(rows.correlation);

    // A's context, asking about B explicitly (b) and about B's ids under A (a).
    for tenant in [a, b] {
        let mut tx = store.tenant_tx(a, user_a).await.unwrap();
        let c = tx.conn();
        assert!(tenants::tenant_fetch(c, b).await.unwrap().is_none());
        assert!(signals::signal_fetch(c, tenant, signal)
            .await
            .unwrap()
            .is_none());
        assert!(
            signals::signal_find_by_source(c, tenant, "probe", &rows.signal.to_string())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            !signals::signal_payload_matches(c, tenant, signal, &json!({}))
                .await
                .unwrap()
        );
        assert!(runs::run_fetch(c, tenant, run).await.unwrap().is_none());
        assert!(runs::run_of_signal(c, tenant, signal)
            .await
            .unwrap()
            .is_none());
        assert!(runs::run_update_status(c, tenant, run, &change)
            .await
            .unwrap()
            .is_none());
        assert!(steps::step_fetch(c, tenant, step).await.unwrap().is_none());
        assert!(steps::steps_of_run(c, tenant, run)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(steps::step_next_index(c, tenant, run).await.unwrap(), 0);
        assert!(steps::step_update_status(c, tenant, step, &change)
            .await
            .unwrap()
            .is_none());
        assert!(tool_calls::tool_call_fetch(c, tenant, call)
            .await
            .unwrap()
            .is_none());
        assert!(
            tool_calls::tool_call_update_status(c, tenant, call, &change)
                .await
                .unwrap()
                .is_none()
        );
        assert!(checkpoints::checkpoint_latest(c, tenant, run)
            .await
            .unwrap()
            .is_none());
        // B's effect's key and B's run: A's own tenant finds neither, and
        // B's tenant is not there at all.
        let key = format!("probe-{}", rows.effect);
        let read = effects::effect_request_read(c, tenant, &key, None, run)
            .await
            .unwrap();
        match read {
            Some(r) if tenant == a => assert!(r.existing.is_none() && r.run.is_none()),
            None if tenant == b => {}
            other => panic!(
                "{tenant}: {:?}",
                other.map(|r| (r.existing, r.run.is_some()))
            ),
        }
        assert!(effects::effect_fetch_comparing(
            c,
            tenant,
            EffectId::from_uuid(rows.effect),
            run,
            "X",
            &json!({})
        )
        .await
        .unwrap()
        .is_none());
        if tenant == b {
            // Moving B's quota counts moves nothing (B's snapshot, below).
            let more = PendingMove {
                effects: 5,
                bytes: 500,
            };
            tenants::tenant_pending_move(c, b, more).await.unwrap();
        }
        assert!(
            effects::effect_fetch(c, tenant, EffectId::from_uuid(rows.effect))
                .await
                .unwrap()
                .is_none()
        );
        assert!(events::events_after(c, tenant, 0, 100)
            .await
            .unwrap()
            .is_empty());
        assert!(events::events_by_correlation(c, tenant, correlation)
            .await
            .unwrap()
            .is_empty());
        assert!(
            events::event_correlation_of(c, tenant, EventId::from_uuid(rows.event))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            events::event_latest_of_steps(c, tenant, RunId::from_uuid(rows.run))
                .await
                .unwrap()
                .is_none()
        );
        assert!(events::event_causal_chain(c, tenant, correlation)
            .await
            .unwrap()
            .is_empty());
        tx.commit().await.unwrap();
    }

    // Writes that would reach into B fail, each in its own transaction.
    let writes: Vec<(&str, StoreError)> = vec![
        ("event into B", {
            let mut tx = store.tenant_tx(a, user_a).await.unwrap();
            let e = events::NewEvent {
                id: EventId::new(),
                event_type: EventType::RunStarted,
                aggregate_id: rows.run,
                aggregate_version: 2,
                data: json!({}),
                correlation,
                causation: None,
                actor: actor.clone(),
            };
            events::event_append(tx.conn(), b, &[e]).await.unwrap_err()
        }),
        ("run on B's signal", {
            let mut tx = store.tenant_tx(a, user_a).await.unwrap();
            let new = runs::NewRun {
                id: RunId::new(),
                signal,
                domain_refs: &json!({}),
                correlation,
                causation: EventId::from_uuid(rows.event),
                actor: &actor,
            };
            runs::run_insert(tx.conn(), a, &new).await.unwrap_err()
        }),
        ("checkpoint of B's run", {
            let mut tx = store.tenant_tx(a, user_a).await.unwrap();
            let new = checkpoints::NewCheckpoint {
                id: CheckpointId::new(),
                run,
                last_step_index: None,
                event_sequence: 1,
                state: &json!({}),
                correlation,
                causation: EventId::from_uuid(rows.event),
                actor: &actor,
            };
            checkpoints::checkpoint_insert(tx.conn(), a, &new)
                .await
                .unwrap_err()
        }),
        ("effect on B's run", {
            let mut tx = store.tenant_tx(a, user_a).await.unwrap();
            let new = effects::NewEffect {
                id: EffectId::new(),
                outbox_id: OutboxId::new(),
                run,
                step: None,
                effect_type: "X",
                spec: &json!({ "idempotency_key": "k" }),
                spec_bytes: 22,
                key: "k",
                correlation,
                actor: &actor,
                destination: None,
            };
            let event = events::NewEvent {
                id: EventId::new(),
                event_type: EventType::EffectRequested,
                aggregate_id: new.id.as_uuid(),
                aggregate_version: 1,
                data: json!({}),
                correlation,
                causation: Some(EventId::from_uuid(rows.event)),
                actor: actor.clone(),
            };
            effects::effect_insert_recorded(tx.conn(), a, &new, &event)
                .await
                .unwrap_err()
        }),
        ("run_start of B's run", {
            let mut tx = store.tenant_tx(a, user_a).await.unwrap();
            run_start(&mut tx, run, &Origin::by(actor.clone()))
                .await
                .unwrap_err()
        }),
        ("step on B's run", {
            let mut tx = store.tenant_tx(a, user_a).await.unwrap();
            let input = StepInput {
                step_type: "x".into(),
                step_index: None,
                input: None,
            };
            step_add(&mut tx, run, &input, &Origin::by(actor.clone()))
                .await
                .unwrap_err()
        }),
    ];
    for (what, err) in &writes {
        assert!(
            matches!(
                err,
                StoreError::TenantIsolation(_)
                    | StoreError::MissingReference { .. }
                    | StoreError::NotFound { .. }
            ),
            "{what}: {err}"
        );
    }
    assert_eq!(
        scalar_as(&mut admin, "pplane_app", Some((b, user_b)), SNAPSHOT).await,
        before,
        "B is unchanged"
    );
    let a_events = scalar_as(
        &mut admin,
        "pplane_app",
        Some((a, user_a)),
        "SELECT count(*) FROM orchestration_events",
    )
    .await;
    assert_eq!(a_events, 0, "nothing was written to A either");
}
