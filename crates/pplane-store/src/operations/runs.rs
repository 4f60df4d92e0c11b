//! The run lifecycle: start, and an end that settles everything under it.

use pplane_domain::{EventId, EventType, Lifecycle, RunId, RunStatus, StepStatus, ToolCallStatus};
use serde_json::{json, Value};

use super::{
    applied, data_merge, expect_version, not_found, record_move, Changed, Move, Origin, Recorded,
};
use crate::limits::{check_size, ERROR_MAX};
use crate::repositories::events::event_latest_of_steps;
use crate::repositories::runs::{run_fetch, run_fetch_locked, run_update_status, RunLock};
use crate::repositories::steps::{step_update_status, steps_live_of_run};
use crate::repositories::tool_calls::{tool_call_update_status, tool_calls_live_of_run};
use crate::repositories::{runs::Run, steps::Step, tool_calls::ToolCall};
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

pub(crate) fn still_open(run: Run, what: &'static str) -> Result<Run> {
    if run.status.is_terminal() {
        return Err(StoreError::RunFinished {
            run: run.id.to_string(),
            status: run.status.as_str(),
            what,
        });
    }
    Ok(run)
}

pub async fn run_start(tx: &mut TenantTx, id: RunId, origin: &Origin) -> Result<Changed<Run>> {
    let run = run_get(tx, id).await?;
    let hangs_from = run.causation_id;
    let (run, started) = run_move(
        tx,
        &run,
        (RunStatus::Running, EventType::RunStarted),
        hangs_from,
        None,
        json!({}),
        origin,
    )
    .await?;
    Ok(Changed::new(run, vec![started]))
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
) -> Result<Changed<Run>> {
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
    let hangs_from = progress.or(run.causation_id);
    let (finished, ended) = run_move(
        tx,
        &run,
        (to, event),
        hangs_from,
        error.as_ref(),
        data,
        origin,
    )
    .await?;
    let mut events = vec![ended];
    if !steps.is_empty() || !calls.is_empty() {
        // Each cancellation hangs from the run's end.
        let by = Origin {
            caused_by: None,
            expected_version: None,
            ..origin.clone()
        };
        let reason = json!({ "reason": format!("run {id} is {to}") });
        let children = (&steps[..], &calls[..]);
        events.extend(children_cancel(tx, children, ended.event_id, &reason, &by).await?);
    }
    Ok(Changed::new(finished, events))
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
) -> Result<Vec<Recorded>> {
    let tenant = tx.tenant();
    let mut events = Vec::with_capacity(steps.len() + calls.len());
    for call in calls {
        let m = Move {
            entity: "tool call",
            id: call.id.as_uuid(),
            version: call.version,
            correlation: call.correlation_id,
            hangs_from: Some(ended_by),
            to: ToolCallStatus::Cancelled.as_str(),
            event: EventType::ToolCallCancelled,
            data: data_merge(
                json!({ "step_id": call.step_id, "tool_name": call.tool_name }),
                reason.clone(),
            ),
            output: None,
            error: Some(reason),
            next_retry_at: None,
        };
        let (change, recorded) = record_move(tx, origin, m).await?;
        let updated = tool_call_update_status(tx.conn(), tenant, call.id, &change).await?;
        applied(updated, "tool call", call.id, call.version)?;
        events.push(recorded);
    }
    for step in steps {
        let m = Move {
            entity: "step",
            id: step.id.as_uuid(),
            version: step.version,
            correlation: step.correlation_id,
            hangs_from: Some(ended_by),
            to: StepStatus::Cancelled.as_str(),
            event: EventType::StepCancelled,
            data: data_merge(
                json!({ "run_id": step.run_id, "step_index": step.step_index }),
                reason.clone(),
            ),
            output: None,
            error: Some(reason),
            next_retry_at: None,
        };
        let (change, recorded) = record_move(tx, origin, m).await?;
        let updated = step_update_status(tx.conn(), tenant, step.id, &change).await?;
        applied(updated, "step", step.id, step.version)?;
        events.push(recorded);
    }
    Ok(events)
}

/// Moves the run and returns it with the event that recorded the move.
async fn run_move(
    tx: &mut TenantTx,
    run: &Run,
    (to, event): (RunStatus, EventType),
    hangs_from: Option<EventId>,
    error: Option<&Value>,
    data: Value,
    origin: &Origin,
) -> Result<(Run, Recorded)> {
    expect_version(origin, "run", run.id, run.version)?;
    run.status.check(to)?;
    let m = Move {
        entity: "run",
        id: run.id.as_uuid(),
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
    let (change, recorded) = record_move(tx, origin, m).await?;
    let tenant = tx.tenant();
    let updated = run_update_status(tx.conn(), tenant, run.id, &change).await?;
    Ok((applied(updated, "run", run.id, run.version)?, recorded))
}
