//! What the demo's agents do, through the same operations any caller uses.

use pplane_domain::{EffectId, RetryPolicy, RunId, StepId, TenantId, UserId};
use pplane_store::operations::checkpoints::checkpoint_save;
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::ingest::{signal_ingest, SignalInput};
use pplane_store::operations::runs::{run_finish, run_start, RunOutcome};
use pplane_store::operations::steps::{step_add, step_move, StepInput, StepMove};
use pplane_store::operations::tool_calls::{tool_call_finish, tool_call_start};
use pplane_store::operations::Origin;
use pplane_store::{Store, StoreError, TenantTx};
use pplane_worker::receiver::Receiver;
use serde::Serialize;
use serde_json::json;

use crate::DemoOptions;

/// What was driven: enough to trace, diagnose and count.
#[derive(Debug, Clone, Serialize)]
pub struct Driven {
    pub tenants: Vec<(TenantId, UserId)>,
    pub runs: usize,
    pub signals: usize,
    pub duplicate_signals: usize,
    pub effects: usize,
    /// A completed run with a retried step, a checkpoint and effects.
    pub traced: (TenantId, RunId),
    /// A run that failed.
    pub failed: Option<(TenantId, RunId)>,
    /// The effect meant to end as a dead letter.
    pub doomed: Option<(TenantId, EffectId)>,
}

pub(crate) async fn drive(
    store: &Store,
    opts: &DemoOptions,
    hook: &str,
    receiver: &Receiver,
    progress: &impl Fn(&str),
) -> Result<Driven, StoreError> {
    let agent = Origin::by("agent:support-bot".parse().expect("an actor"));
    let mut driven = Driven {
        tenants: Vec::new(),
        runs: 0,
        signals: 0,
        duplicate_signals: 0,
        effects: 0,
        traced: (TenantId::new(), RunId::new()),
        failed: None,
        doomed: None,
    };
    for t in 0..opts.tenants.max(1) {
        let user = UserId::new();
        let tenant = store
            .tenant_create(&format!("Demo tenant {t}"), user)
            .await?;
        driven.tenants.push((tenant, user));
        progress(&format!("tenant {t}: {tenant}, {} runs", opts.runs));
        let mut tx = store.tenant_tx(tenant, user).await?;
        let created =
            destination_create(&mut tx, "notifications", &Target::Webhook(hook.into())).await?;
        tx.commit().await?;
        if let Some(secret) = created.signing_secret.filter(|_| t == 0) {
            receiver.trust(&secret);
        }
        for r in 0..opts.runs.max(1) {
            let signal = SignalInput {
                channel: "support".into(),
                source_id: format!("ticket-{t}-{r}"),
                payload: json!({ "subject": "Where is my order?", "order": format!("O-{t}{r}") }),
                domain_refs: json!({ "order": format!("O-{t}{r}"), "customer": format!("C-{t}") }),
                actor: "external:helpdesk".parse().expect("an actor"),
            };
            let mut tx = store.tenant_tx(tenant, user).await?;
            let got = signal_ingest(&mut tx, &signal).await?;
            tx.commit().await?;
            driven.signals += 1;
            if r == 0 {
                // The helpdesk sends the same ticket again: nothing new.
                let mut tx = store.tenant_tx(tenant, user).await?;
                let again = signal_ingest(&mut tx, &signal).await?;
                tx.commit().await?;
                driven.duplicate_signals += usize::from(again.duplicate);
            }
            let fails = opts.runs > 1 && r == opts.runs - 1;
            let mut tx = store.tenant_tx(tenant, user).await?;
            let effects = run_one(&mut tx, got.run_id, t, r, fails, &agent).await?;
            tx.commit().await?;
            driven.runs += 1;
            driven.effects += effects.len();
            if t == 0 && r == 0 {
                driven.traced = (tenant, got.run_id);
                driven.doomed = effects
                    .iter()
                    .find(|(key, _)| key.contains("broken"))
                    .map(|(_, id)| (tenant, *id));
            }
            if fails && driven.failed.is_none() {
                driven.failed = Some((tenant, got.run_id));
            }
        }
    }
    Ok(driven)
}

/// One run: a planning step with a tool call, a lookup whose tool fails
/// once (the step is retried) on the first run, a checkpoint, effects, and
/// the end: completed, or failed when `fails`.
async fn run_one(
    tx: &mut TenantTx,
    run: RunId,
    t: u32,
    r: u32,
    fails: bool,
    by: &Origin,
) -> Result<Vec<(String, EffectId)>, StoreError> {
    run_start(tx, run, by).await?;
    let plan = step(tx, run, "plan", by).await?;
    step_move(tx, plan, &StepMove::Start, by).await?;
    tool(tx, plan, "kb.search", Ok(json!({ "hits": 3 })), by).await?;
    step_move(
        tx,
        plan,
        &StepMove::Complete {
            output: Some(json!({ "plan": "look up the order" })),
        },
        by,
    )
    .await?;

    let lookup = step(tx, run, "lookup-order", by).await?;
    step_move(tx, lookup, &StepMove::Start, by).await?;
    if r == 0 {
        tool(tx, lookup, "orders.get", Err(json!({ "status": 503 })), by).await?;
        step_move(
            tx,
            lookup,
            &StepMove::Fail {
                error: json!({ "reason": "orders service unavailable" }),
            },
            by,
        )
        .await?;
        let policy = RetryPolicy {
            base_delay_ms: 0,
            ..RetryPolicy::default()
        };
        step_move(tx, lookup, &StepMove::Retry { policy }, by).await?;
        step_move(tx, lookup, &StepMove::Start, by).await?;
    }
    if fails {
        tool(tx, lookup, "orders.get", Err(json!({ "status": 404 })), by).await?;
        step_move(
            tx,
            lookup,
            &StepMove::Fail {
                error: json!({ "reason": "order not found" }),
            },
            by,
        )
        .await?;
        run_finish(
            tx,
            run,
            &RunOutcome::Failed {
                error: json!({ "step": "lookup-order", "reason": "order not found" }),
            },
            by,
        )
        .await?;
        return Ok(Vec::new());
    }
    tool(
        tx,
        lookup,
        "orders.get",
        Ok(json!({ "status": "shipped" })),
        by,
    )
    .await?;
    step_move(
        tx,
        lookup,
        &StepMove::Complete {
            output: Some(json!({ "status": "shipped" })),
        },
        by,
    )
    .await?;
    checkpoint_save(tx, run, &json!({ "order_status": "shipped" }), Some(1), by).await?;

    let mut keys = vec![format!("notify-{t}-{r}")];
    if r == 0 {
        keys.push(format!("flaky-{t}"));
        if t == 0 {
            keys.push("broken-0".into());
        }
    }
    let mut effects = Vec::new();
    for key in keys {
        let input = EffectInput {
            run,
            step: Some(lookup),
            effect_type: "CUSTOMER_NOTIFIED".into(),
            idempotency_key: key.clone(),
            spec: json!({ "destination": "notifications", "template": "order-shipped" }),
        };
        let requested = effect_request(tx, &input, by).await?;
        effects.push((key, requested.effect.id));
    }
    run_finish(tx, run, &RunOutcome::Completed, by).await?;
    Ok(effects)
}

async fn step(
    tx: &mut TenantTx,
    run: RunId,
    kind: &str,
    by: &Origin,
) -> Result<StepId, StoreError> {
    let input = StepInput {
        step_type: kind.into(),
        step_index: None,
        input: None,
    };
    Ok(step_add(tx, run, &input, by).await?.id)
}

async fn tool(
    tx: &mut TenantTx,
    step: StepId,
    name: &str,
    outcome: Result<serde_json::Value, serde_json::Value>,
    by: &Origin,
) -> Result<(), StoreError> {
    let call = tool_call_start(tx, step, name, &json!({}), by).await?;
    let id = call.id;
    tool_call_finish(tx, id, outcome.as_ref(), by).await?;
    Ok(())
}
