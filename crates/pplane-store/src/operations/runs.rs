//! The lifecycles of runs, steps and tool calls.

use chrono::Utc;
use pplane_domain::{
    CorrelationId, EventId, EventType, Lifecycle, RetryPolicy, RunId, RunStatus, StepId,
    StepStatus, ToolCallId, ToolCallStatus,
};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{applied, check_text, expect_version, not_found, record, record_move, Move, Origin};
use crate::limits::{check_size, DETAIL_MAX, ERROR_MAX, STEP_INDEX_MAX};
use crate::repositories::events::event_latest_of_steps;
use crate::repositories::runs::{
    run_fetch, run_fetch_locked, run_of_step_locked, run_update_status, Run, RunLock,
};
use crate::repositories::steps::{
    step_fetch, step_insert, step_next_index, step_update_status, steps_live_of_run, NewStep, Step,
};
use crate::repositories::tool_calls::{
    tool_call_fetch, tool_call_insert, tool_call_update_status, tool_calls_live_of_run,
    NewToolCall, ToolCall,
};
use crate::{Result, StoreError, TenantTx};

/// How a run ends.
#[derive(Debug, Clone)]
pub enum RunOutcome {
    Completed,
    Failed { error: Value },
    Cancelled { reason: String },
}

pub async fn run_get(tx: &mut TenantTx, id: RunId) -> Result<Run> {
    let tenant = tx.tenant();
    run_fetch(tx.conn(), tenant, id)
        .await?
        .ok_or_else(|| not_found("run", id))
}

/// The run, held as `lock` says until the transaction commits, if it has not
/// ended: a finished run takes no more `what` (steps, step changes, tool
/// calls, checkpoints, effects). Holding it is what keeps a change under the
/// run from slipping past the run's end: [`run_finish`] takes it exclusively.
pub(crate) async fn run_open(
    tx: &mut TenantTx,
    id: RunId,
    what: &'static str,
    lock: RunLock,
) -> Result<Run> {
    let tenant = tx.tenant();
    let run = run_fetch_locked(tx.conn(), tenant, id, lock)
        .await?
        .ok_or_else(|| not_found("run", id))?;
    still_open(run, what)
}

fn still_open(run: Run, what: &'static str) -> Result<Run> {
    let status: RunStatus = run.status.parse()?;
    if status.is_terminal() {
        return Err(StoreError::RunFinished {
            run: run.id.to_string(),
            status: status.as_str(),
            what,
        });
    }
    Ok(run)
}

pub async fn run_start(tx: &mut TenantTx, id: RunId, origin: &Origin) -> Result<Run> {
    let run = run_get(tx, id).await?;
    let hangs_from = run.causation_id;
    let (run, _) = run_move(
        tx,
        &run,
        (RunStatus::Running, EventType::RunStarted),
        hangs_from,
        None,
        json!({}),
        origin,
    )
    .await?;
    Ok(run)
}

/// Ends a run. Completing it needs every step and tool call under it ended
/// (refused otherwise, nothing written); failing or cancelling it cancels
/// those still live, each with its own event caused by the run's end. The
/// run is held exclusively meanwhile, so no change under it can slip in.
pub async fn run_finish(
    tx: &mut TenantTx,
    id: RunId,
    outcome: &RunOutcome,
    origin: &Origin,
) -> Result<Run> {
    let tenant = tx.tenant();
    let run = run_fetch_locked(tx.conn(), tenant, id, RunLock::Exclusive)
        .await?
        .ok_or_else(|| not_found("run", id))?;
    let steps = steps_live_of_run(tx.conn(), tenant, id).await?;
    let calls = tool_calls_live_of_run(tx.conn(), tenant, id).await?;
    let (to, event, error, data) = match outcome {
        RunOutcome::Completed => {
            if !steps.is_empty() || !calls.is_empty() {
                return Err(StoreError::RunUnsettled {
                    run: id.to_string(),
                    live: live_children(&steps, &calls),
                });
            }
            (
                RunStatus::Completed,
                EventType::RunCompleted,
                None,
                json!({}),
            )
        }
        RunOutcome::Failed { error } => {
            check_size("error_details", error, ERROR_MAX)?;
            let data = json!({ "error_details": error });
            (
                RunStatus::Failed,
                EventType::RunFailed,
                Some(error.clone()),
                data,
            )
        }
        RunOutcome::Cancelled { reason } => {
            let details = json!({ "reason": reason });
            let data = details.clone();
            (
                RunStatus::Cancelled,
                EventType::RunCancelled,
                Some(details),
                data,
            )
        }
    };
    // The end follows the run's last step event (its own before any step).
    let progress = event_latest_of_steps(tx.conn(), tenant, id).await?;
    let hangs_from = progress.map(|e| e.as_uuid()).or(run.causation_id);
    let (finished, ended_by) = run_move(
        tx,
        &run,
        (to, event),
        hangs_from,
        error.as_ref(),
        data,
        origin,
    )
    .await?;
    if !steps.is_empty() || !calls.is_empty() {
        // Each cancellation hangs from the run's end.
        let by = Origin {
            caused_by: None,
            expected_version: None,
            ..origin.clone()
        };
        let reason = json!({ "reason": format!("run {id} is {to}") });
        children_cancel(tx, (&steps, &calls), ended_by, &reason, &by).await?;
    }
    Ok(finished)
}

/// "1 RUNNING step, 2 PENDING steps and 1 RUNNING tool call".
fn live_children(steps: &[Step], calls: &[ToolCall]) -> String {
    let mut parts = Vec::new();
    for (rows, noun) in [
        (
            steps.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(),
            "step",
        ),
        (
            calls.iter().map(|c| c.status.as_str()).collect(),
            "tool call",
        ),
    ] {
        for status in ["RUNNING", "PENDING"] {
            let n = rows.iter().filter(|s| **s == status).count();
            if n > 0 {
                parts.push(format!(
                    "{n} {status} {noun}{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
    }
    match parts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "nothing live".into(),
    }
}

/// Cancels live tool calls, then live steps, each with its event.
async fn children_cancel(
    tx: &mut TenantTx,
    (steps, calls): (&[Step], &[ToolCall]),
    ended_by: EventId,
    reason: &Value,
    origin: &Origin,
) -> Result<()> {
    let tenant = tx.tenant();
    for call in calls {
        let m = Move {
            entity: "tool call",
            id: call.id,
            version: call.version,
            correlation: call.correlation_id,
            hangs_from: Some(ended_by.as_uuid()),
            to: ToolCallStatus::Cancelled.as_str(),
            event: EventType::ToolCallCancelled,
            data: merge(
                json!({ "step_id": call.step_id, "tool_name": call.tool_name }),
                reason.clone(),
            ),
            output: None,
            error: Some(reason),
            next_retry_at: None,
        };
        let change = record_move(tx, origin, m).await?;
        let id = ToolCallId::from_uuid(call.id);
        let updated = tool_call_update_status(tx.conn(), tenant, id, &change).await?;
        applied(updated, "tool call", call.id, call.version)?;
    }
    for step in steps {
        let m = Move {
            entity: "step",
            id: step.id,
            version: step.version,
            correlation: step.correlation_id,
            hangs_from: Some(ended_by.as_uuid()),
            to: StepStatus::Cancelled.as_str(),
            event: EventType::StepCancelled,
            data: merge(
                json!({ "run_id": step.run_id, "step_index": step.step_index }),
                reason.clone(),
            ),
            output: None,
            error: Some(reason),
            next_retry_at: None,
        };
        let change = record_move(tx, origin, m).await?;
        let updated =
            step_update_status(tx.conn(), tenant, StepId::from_uuid(step.id), &change).await?;
        applied(updated, "step", step.id, step.version)?;
    }
    Ok(())
}

/// Moves the run and returns it with the event that recorded the move.
async fn run_move(
    tx: &mut TenantTx,
    run: &Run,
    (to, event): (RunStatus, EventType),
    hangs_from: Option<Uuid>,
    error: Option<&Value>,
    data: Value,
    origin: &Origin,
) -> Result<(Run, EventId)> {
    expect_version(origin, "run", run.id, run.version)?;
    let from: RunStatus = run.status.parse()?;
    from.check(to)?;
    let m = Move {
        entity: "run",
        id: run.id,
        version: run.version,
        correlation: run.correlation_id,
        hangs_from,
        to: to.as_str(),
        event,
        data,
        output: None,
        error,
        next_retry_at: None,
    };
    let change = record_move(tx, origin, m).await?;
    let tenant = tx.tenant();
    let updated = run_update_status(tx.conn(), tenant, RunId::from_uuid(run.id), &change).await?;
    Ok((
        applied(updated, "run", run.id, run.version)?,
        change.causation,
    ))
}

/// A new step for a run, at `step_index` or after the last one.
#[derive(Debug, Clone)]
pub struct StepInput {
    pub step_type: String,
    pub step_index: Option<i32>,
    pub input: Option<Value>,
}

pub async fn step_add(
    tx: &mut TenantTx,
    run_id: RunId,
    step: &StepInput,
    origin: &Origin,
) -> Result<Step> {
    check_text("step_type", &step.step_type, 100)?;
    if let Some(input) = &step.input {
        check_size("input", input, DETAIL_MAX)?;
    }
    // Exclusively: concurrent appends each see the steps before them.
    let run = run_open(tx, run_id, "steps", RunLock::Exclusive).await?;
    let tenant = tx.tenant();
    let index = match step.step_index {
        Some(i) if !(0..=STEP_INDEX_MAX).contains(&i) => {
            return Err(StoreError::InvalidInput(format!(
                "step_index must be 0 to {STEP_INDEX_MAX}, got {i}"
            )))
        }
        Some(i) => i,
        None => step_next_index(tx.conn(), tenant, run_id).await?,
    };
    if index > STEP_INDEX_MAX {
        return Err(StoreError::RunFull {
            run: run_id.to_string(),
            max: STEP_INDEX_MAX,
        });
    }
    let id = StepId::new();
    let correlation = CorrelationId::from_uuid(run.correlation_id);
    let data = json!({ "run_id": run_id, "step_index": index, "step_type": step.step_type });
    // A new step hangs from the run's current event: steps added side by
    // side are siblings.
    let recorded = record(
        tx,
        correlation,
        origin,
        run.causation_id.map(EventId::from_uuid),
        EventType::StepScheduled,
        ("step", id.as_uuid(), 1),
        data,
    )
    .await?;
    let new = NewStep {
        id,
        run: run_id,
        step_index: index,
        step_type: &step.step_type,
        input: step.input.as_ref(),
        correlation,
        causation: recorded.event_id,
        actor: &origin.actor,
    };
    step_insert(tx.conn(), tenant, &new).await
}

pub async fn step_get(tx: &mut TenantTx, id: StepId) -> Result<Step> {
    let tenant = tx.tenant();
    step_fetch(tx.conn(), tenant, id)
        .await?
        .ok_or_else(|| not_found("step", id))
}

/// What happens to a step.
#[derive(Debug, Clone)]
pub enum StepMove {
    Start,
    Complete {
        output: Option<Value>,
    },
    Fail {
        error: Value,
    },
    /// FAILED -> PENDING, due after the policy's delay for this attempt.
    Retry {
        policy: RetryPolicy,
    },
    Skip {
        reason: String,
    },
    Cancel {
        reason: String,
    },
}

pub async fn step_move(
    tx: &mut TenantTx,
    id: StepId,
    how: &StepMove,
    origin: &Origin,
) -> Result<Step> {
    let step = step_get(tx, id).await?;
    run_open(
        tx,
        RunId::from_uuid(step.run_id),
        "step changes",
        RunLock::Share,
    )
    .await?;
    expect_version(origin, "step", step.id, step.version)?;
    let from: StepStatus = step.status.parse()?;
    let base = json!({ "run_id": step.run_id, "step_index": step.step_index });
    let (mut output, mut error, mut next_retry_at) = (None, None, None);
    let skip_details;
    let (to, event, data) = match how {
        StepMove::Start => (StepStatus::Running, EventType::StepStarted, base),
        StepMove::Complete { output: result } => {
            if let Some(o) = result {
                check_size("output_result", o, DETAIL_MAX)?;
            }
            output = result.as_ref();
            let bytes = result.as_ref().map(|o| o.to_string().len()).unwrap_or(0);
            (
                StepStatus::Completed,
                EventType::StepCompleted,
                merge(base, json!({ "output_bytes": bytes })),
            )
        }
        StepMove::Fail { error: details } => {
            check_size("error_details", details, ERROR_MAX)?;
            error = Some(details);
            (
                StepStatus::Failed,
                EventType::StepFailed,
                merge(base, json!({ "error_details": details })),
            )
        }
        StepMove::Retry { policy } => {
            let attempt = step.retry_count as u32 + 1;
            let delay = policy
                .delay_ms(attempt)
                .ok_or(StoreError::RetriesExhausted {
                    step: id.to_string(),
                    max_retries: policy.max_retries,
                })?;
            let due = Utc::now() + chrono::Duration::milliseconds(delay as i64);
            next_retry_at = Some(due);
            let data = merge(
                base,
                json!({ "retry_count": attempt, "next_retry_at": due, "delay_ms": delay }),
            );
            (StepStatus::Pending, EventType::StepRetryScheduled, data)
        }
        StepMove::Skip { reason } | StepMove::Cancel { reason } => {
            skip_details = json!({ "reason": reason });
            error = Some(&skip_details);
            let (to, event) = match how {
                StepMove::Skip { .. } => (StepStatus::Skipped, EventType::StepSkipped),
                _ => (StepStatus::Cancelled, EventType::StepCancelled),
            };
            (to, event, merge(base, skip_details.clone()))
        }
    };
    from.check(to)?;
    let m = Move {
        entity: "step",
        id: step.id,
        version: step.version,
        correlation: step.correlation_id,
        hangs_from: step.causation_id,
        to: to.as_str(),
        event,
        data,
        output,
        error,
        next_retry_at,
    };
    let change = record_move(tx, origin, m).await?;
    let tenant = tx.tenant();
    let updated = step_update_status(tx.conn(), tenant, id, &change).await?;
    applied(updated, "step", step.id, step.version)
}

/// A tool call that a running step has just started.
pub async fn tool_call_start(
    tx: &mut TenantTx,
    step_id: StepId,
    tool_name: &str,
    args: &Value,
    origin: &Origin,
) -> Result<ToolCall> {
    check_text("tool_name", tool_name, 200)?;
    check_size("tool_args", args, DETAIL_MAX)?;
    let step = step_get(tx, step_id).await?;
    run_open(
        tx,
        RunId::from_uuid(step.run_id),
        "tool calls",
        RunLock::Share,
    )
    .await?;
    if step.status != StepStatus::Running.as_str() {
        return Err(StoreError::StepNotRunning {
            step: step_id.to_string(),
            status: step.status,
        });
    }
    let id = ToolCallId::new();
    let correlation = CorrelationId::from_uuid(step.correlation_id);
    let data =
        json!({ "step_id": step_id, "tool_name": tool_name, "args_bytes": args.to_string().len() });
    // A tool call hangs from its step's start: parallel calls are siblings.
    let recorded = record(
        tx,
        correlation,
        origin,
        step.causation_id.map(EventId::from_uuid),
        EventType::ToolCallStarted,
        ("tool call", id.as_uuid(), 1),
        data,
    )
    .await?;
    let new = NewToolCall {
        id,
        step: step_id,
        tool_name,
        tool_args: args,
        correlation,
        causation: recorded.event_id,
        actor: &origin.actor,
    };
    let tenant = tx.tenant();
    tool_call_insert(tx.conn(), tenant, &new).await
}

pub async fn tool_call_get(tx: &mut TenantTx, id: ToolCallId) -> Result<ToolCall> {
    let tenant = tx.tenant();
    tool_call_fetch(tx.conn(), tenant, id)
        .await?
        .ok_or_else(|| not_found("tool call", id))
}

/// Finishes a tool call with its result (Ok) or its error (Err).
pub async fn tool_call_finish(
    tx: &mut TenantTx,
    id: ToolCallId,
    outcome: Result<&Value, &Value>,
    origin: &Origin,
) -> Result<ToolCall> {
    let call = tool_call_get(tx, id).await?;
    let step = StepId::from_uuid(call.step_id);
    let tenant = tx.tenant();
    let run = run_of_step_locked(tx.conn(), tenant, step, RunLock::Share)
        .await?
        .ok_or_else(|| not_found("step", step))?;
    still_open(run, "tool call changes")?;
    expect_version(origin, "tool call", call.id, call.version)?;
    let from: ToolCallStatus = call.status.parse()?;
    let base = json!({ "step_id": call.step_id, "tool_name": call.tool_name });
    let (to, event, data, output, error) = match outcome {
        Ok(result) => {
            check_size("result", result, DETAIL_MAX)?;
            let data = merge(base, json!({ "result_bytes": result.to_string().len() }));
            (
                ToolCallStatus::Completed,
                EventType::ToolCallCompleted,
                data,
                Some(result),
                None,
            )
        }
        Err(error) => {
            check_size("error_details", error, ERROR_MAX)?;
            let data = merge(base, json!({ "error_details": error }));
            (
                ToolCallStatus::Failed,
                EventType::ToolCallFailed,
                data,
                None,
                Some(error),
            )
        }
    };
    from.check(to)?;
    let m = Move {
        entity: "tool call",
        id: call.id,
        version: call.version,
        correlation: call.correlation_id,
        hangs_from: call.causation_id,
        to: to.as_str(),
        event,
        data,
        output,
        error,
        next_retry_at: None,
    };
    let change = record_move(tx, origin, m).await?;
    let updated = tool_call_update_status(tx.conn(), tenant, id, &change).await?;
    applied(updated, "tool call", call.id, call.version)
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}
