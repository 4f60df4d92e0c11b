//! An orchestrator written in Rust, driving one agent run through the
//! plane's public API, then printing the run's causation tree.
//!
//! ```sh
//! pplane migrate up                       # once
//! DATABASE_URL=$(pplane db url) cargo run -p pplane-store --example drive_a_run
//! ```
//!
//! Every change below goes through an operation that checks the state
//! machine and appends its event in the same transaction; nothing here can
//! write a row or an event by itself. Each operation returns what it changed
//! and the events it appended, so a caller can name one as the cause of what
//! it does next. Two tool calls of one step run side by side, and show as
//! siblings in the tree.

use pplane_domain::{RetryPolicy, StepId, UserId};
use pplane_store::operations::checkpoints::checkpoint_save;
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::ingest::{signal_ingest, SignalInput};
use pplane_store::operations::runs::{run_finish, run_start, RunOutcome};
use pplane_store::operations::steps::{step_add, step_move, StepInput, StepMove};
use pplane_store::operations::tool_calls::{tool_call_finish, tool_call_start};
use pplane_store::operations::Origin;
use pplane_store::queries::trace::{causation_tree, trace_load};
use pplane_store::{Store, TenantTx};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL (pplane db url)")?;
    for line in drive(&url).await? {
        println!("{line}");
    }
    Ok(())
}

/// Drives one run from its signal to its end; returns the lines that tell
/// it. (`tests/store/example.rs` runs this too.)
pub async fn drive(url: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let store = Store::connect(url).await?;
    let user = UserId::new();
    let tenant = store
        .tenant_create("Rust orchestrator example", user)
        .await?;
    let agent = Origin::by("agent:rust-example".parse()?);

    // A signal arrives: idempotent on its source, it starts a run.
    let signal = SignalInput {
        channel: "support".into(),
        source_id: format!("ticket-{}", uuid::Uuid::now_v7()),
        payload: json!({ "subject": "Where is my refund?" }),
        domain_refs: json!({ "customer": "C-77", "order": "O-1001" }),
        actor: "external:helpdesk".parse()?,
    };
    // Every operation works in the caller's transaction: the signal and
    // the run's start commit together.
    let mut tx: TenantTx = store.tenant_tx(tenant, user).await?;
    let got = signal_ingest(&mut tx, &signal).await?;
    let run = got.run_id;
    run_start(&mut tx, run, &agent).await?;
    destination_create(
        &mut tx,
        "mailer",
        &Target::Webhook("https://mail.example.com/hooks".into()),
    )
    .await?;

    // Step 1 looks things up with two tools at once.
    let lookup = step(&mut tx, run, "lookup", &agent).await?;
    step_move(&mut tx, lookup, &StepMove::Start, &agent).await?;
    let (order_args, crm_args) = (json!({ "id": "O-1001" }), json!({ "id": "C-77" }));
    let orders = tool_call_start(&mut tx, lookup, "orders.get", &order_args, &agent).await?;
    let crm = tool_call_start(&mut tx, lookup, "crm.get", &crm_args, &agent).await?;
    tool_call_finish(&mut tx, orders.id, Ok(&json!({ "total": 42.5 })), &agent).await?;
    tool_call_finish(&mut tx, crm.id, Ok(&json!({ "tier": "gold" })), &agent).await?;
    step_move(
        &mut tx,
        lookup,
        &StepMove::Complete { output: None },
        &agent,
    )
    .await?;

    // Step 2 fails once, is retried, and succeeds.
    let refund = step(&mut tx, run, "refund", &agent).await?;
    step_move(&mut tx, refund, &StepMove::Start, &agent).await?;
    let fail = StepMove::Fail {
        error: json!({ "reason": "payments service unavailable" }),
    };
    step_move(&mut tx, refund, &fail, &agent).await?;
    let policy = RetryPolicy {
        base_delay_ms: 0,
        ..RetryPolicy::default()
    };
    step_move(&mut tx, refund, &StepMove::Retry { policy }, &agent).await?;
    step_move(&mut tx, refund, &StepMove::Start, &agent).await?;
    let done = StepMove::Complete {
        output: Some(json!({ "refund": "R-1" })),
    };
    let refunded = step_move(&mut tx, refund, &done, &agent).await?;

    // What a resume needs, and the customer's email through the outbox.
    let state = json!({ "refund": "R-1", "amount": 42.5 });
    checkpoint_save(&mut tx, run, &state, Some(1), &agent).await?;
    let email = EffectInput {
        run,
        step: Some(refund),
        effect_type: "SEND_EMAIL".into(),
        idempotency_key: format!("refund-mail-{run}"),
        spec: json!({ "destination": "mailer", "to": "c77@example.com" }),
    };
    // The email is sent because the refund went through: name that event.
    let because = Origin {
        caused_by: refunded.event().map(|e| e.event_id),
        ..agent.clone()
    };
    effect_request(&mut tx, &email, &because).await?;
    run_finish(&mut tx, run, &RunOutcome::Completed, &agent).await?;
    tx.commit().await?;

    // The story, as the plane tells it.
    let mut tx = store.tenant_tx(tenant, user).await?;
    let trace = trace_load(&mut tx, run.as_uuid())
        .await?
        .ok_or("no trace")?;
    tx.commit().await?;
    let mut lines = vec![format!(
        "run {run} in tenant {tenant}: {} events",
        trace.events.len()
    )];
    for line in causation_tree(&trace.chain) {
        let (depth, event) = (line.link.depth, &line.link.event_type);
        lines.push(format!("{depth:>4} {}{event}", line.prefix));
    }
    store.close().await;
    Ok(lines)
}

async fn step(
    tx: &mut TenantTx,
    run: pplane_domain::RunId,
    step_type: &str,
    by: &Origin,
) -> Result<StepId, pplane_store::StoreError> {
    let input = StepInput {
        step_type: step_type.into(),
        step_index: None,
        input: None,
    };
    Ok(step_add(tx, run, &input, by).await?.id)
}
