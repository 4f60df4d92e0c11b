//! The tool calls a running step makes: started, then completed or failed.

use pplane_domain::{EventType, Lifecycle, StepId, StepStatus, ToolCallId, ToolCallStatus};
use serde_json::{json, Value};

use super::runs::{run_open, still_open};
use super::steps::step_get;
use super::{
    applied, check_text, data_merge, expect_version, not_found, record, record_move, Changed, Move,
    Origin,
};
use crate::limits::{check_size, DETAIL_MAX, ERROR_MAX};
use crate::repositories::runs::{run_of_step_locked, RunLock};
use crate::repositories::tool_calls::{
    tool_call_fetch, tool_call_insert, tool_call_update_status, NewToolCall, ToolCall,
};
use crate::{Result, StoreError, TenantTx};

/// A tool call that a running step has just started.
pub async fn tool_call_start(
    tx: &mut TenantTx,
    step_id: StepId,
    tool_name: &str,
    args: &Value,
    origin: &Origin,
) -> Result<Changed<ToolCall>> {
    check_text("tool_name", tool_name, 200)?;
    check_size("tool_args", args, DETAIL_MAX)?;
    let step = step_get(tx, step_id).await?;
    run_open(tx, step.run_id, "tool calls", RunLock::Share).await?;
    if step.status != StepStatus::Running {
        return Err(StoreError::StepNotRunning {
            step: step_id.to_string(),
            status: step.status,
        });
    }
    let id = ToolCallId::new();
    let data =
        json!({ "step_id": step_id, "tool_name": tool_name, "args_bytes": args.to_string().len() });
    // A tool call hangs from its step's start: parallel calls are siblings.
    let recorded = record(
        tx,
        step.correlation_id,
        origin,
        step.causation_id,
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
        correlation: step.correlation_id,
        causation: recorded.event_id,
        actor: &origin.actor,
    };
    let tenant = tx.tenant();
    let started = tool_call_insert(tx.conn(), tenant, &new).await?;
    Ok(Changed::new(started, vec![recorded]))
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
) -> Result<Changed<ToolCall>> {
    let call = tool_call_get(tx, id).await?;
    let tenant = tx.tenant();
    let run = run_of_step_locked(tx.conn(), tenant, call.step_id, RunLock::Share)
        .await?
        .ok_or_else(|| not_found("step", call.step_id))?;
    still_open(run, "tool call changes")?;
    expect_version(origin, "tool call", call.id, call.version)?;
    let base = json!({ "step_id": call.step_id, "tool_name": call.tool_name });
    let (to, event, data, output, error) = match outcome {
        Ok(result) => {
            check_size("result", result, DETAIL_MAX)?;
            let data = data_merge(base, json!({ "result_bytes": result.to_string().len() }));
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
            let data = data_merge(base, json!({ "error_details": error }));
            (
                ToolCallStatus::Failed,
                EventType::ToolCallFailed,
                data,
                None,
                Some(error),
            )
        }
    };
    call.status.check(to)?;
    let m = Move {
        entity: "tool call",
        id: call.id.as_uuid(),
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
    let (change, recorded) = record_move(tx, origin, m).await?;
    let updated = tool_call_update_status(tx.conn(), tenant, id, &change).await?;
    let finished = applied(updated, "tool call", call.id, call.version)?;
    Ok(Changed::new(finished, vec![recorded]))
}
