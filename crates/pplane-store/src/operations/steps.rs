//! Steps of a run: added, started, completed or failed, retried in place,
//! skipped or cancelled.

use chrono::Utc;
use pplane_domain::{EventType, Lifecycle, RetryPolicy, RunId, StepId, StepStatus};
use serde_json::{json, Value};

use super::runs::run_open;
use super::{
    applied, check_text, data_merge, expect_version, not_found, record, record_move, Changed, Move,
    Origin,
};
use crate::limits::{check_size, DETAIL_MAX, ERROR_MAX, STEP_INDEX_MAX};
use crate::repositories::runs::RunLock;
use crate::repositories::steps::{
    step_fetch, step_insert, step_next_index, step_update_status, NewStep, Step,
};
use crate::{Result, StoreError, TenantTx};

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
) -> Result<Changed<Step>> {
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
    let data = json!({ "run_id": run_id, "step_index": index, "step_type": step.step_type });
    // A new step hangs from the run's current event: steps added side by
    // side are siblings.
    let recorded = record(
        tx,
        run.correlation_id,
        origin,
        run.causation_id,
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
        correlation: run.correlation_id,
        causation: recorded.event_id,
        actor: &origin.actor,
    };
    let added = step_insert(tx.conn(), tenant, &new).await?;
    Ok(Changed::new(added, vec![recorded]))
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
) -> Result<Changed<Step>> {
    let step = step_get(tx, id).await?;
    run_open(tx, step.run_id, "step changes", RunLock::Share).await?;
    expect_version(origin, "step", step.id, step.version)?;
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
                data_merge(base, json!({ "output_bytes": bytes })),
            )
        }
        StepMove::Fail { error: details } => {
            check_size("error_details", details, ERROR_MAX)?;
            error = Some(details);
            (
                StepStatus::Failed,
                EventType::StepFailed,
                data_merge(base, json!({ "error_details": details })),
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
            let data = data_merge(
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
            (to, event, data_merge(base, skip_details.clone()))
        }
    };
    step.status.check(to)?;
    let m = Move {
        entity: "step",
        id: step.id.as_uuid(),
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
    let (change, recorded) = record_move(tx, origin, m).await?;
    let tenant = tx.tenant();
    let updated = step_update_status(tx.conn(), tenant, id, &change).await?;
    let moved = applied(updated, "step", step.id, step.version)?;
    Ok(Changed::new(moved, vec![recorded]))
}
