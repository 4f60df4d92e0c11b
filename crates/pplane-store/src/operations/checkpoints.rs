//! Checkpoints: save and load what a resume needs.

use pplane_domain::{CheckpointId, EventType, RunId};
use serde_json::{json, Value};

use super::runs::{run_get, run_open};
use super::{record, Changed, Origin};
use crate::limits::{check_size, CHECKPOINT_STATE_MAX};
use crate::repositories::checkpoints::{
    checkpoint_insert, checkpoint_latest, checkpoints_before, Checkpoint, NewCheckpoint,
};
use crate::repositories::events::event_latest_of_steps;
use crate::repositories::runs::RunLock;
use crate::{Result, StoreError, TenantTx};

/// Saves the run's state. The checkpoint's position is that of its own
/// CHECKPOINT_SAVED event: a resume loads it and replays what came after.
pub async fn checkpoint_save(
    tx: &mut TenantTx,
    run_id: RunId,
    state: &Value,
    last_step_index: Option<i32>,
    origin: &Origin,
) -> Result<Changed<Checkpoint>> {
    check_size("checkpoint state", state, CHECKPOINT_STATE_MAX)?;
    if last_step_index.is_some_and(|i| i < 0) {
        return Err(StoreError::InvalidInput(
            "last_step_index must be 0 or more".into(),
        ));
    }
    let run = run_open(tx, run_id, "checkpoints", RunLock::Share).await?;
    let id = CheckpointId::new();
    let correlation = run.correlation_id;
    let data = json!({ "run_id": run_id, "last_step_index": last_step_index, "state_bytes": state.to_string().len() });
    // A checkpoint follows where the run's progress stands: its newest
    // step event, or the run's own before any step.
    let tenant = tx.tenant();
    let progress = event_latest_of_steps(tx.conn(), tenant, run_id).await?;
    let hangs_from = progress.or(run.causation_id);
    let recorded = record(
        tx,
        correlation,
        origin,
        hangs_from,
        EventType::CheckpointSaved,
        ("checkpoint", id.as_uuid(), 1),
        data,
    )
    .await?;
    let new = NewCheckpoint {
        id,
        run: run_id,
        last_step_index,
        event_sequence: recorded.sequence_number,
        state,
        correlation,
        causation: recorded.event_id,
        actor: &origin.actor,
    };
    let saved = checkpoint_insert(tx.conn(), tenant, &new).await?;
    Ok(Changed::new(saved, vec![recorded]))
}

/// The run's latest checkpoint, if it has one; NotFound when the tenant has
/// no such run (rather than a run without checkpoints).
pub async fn checkpoint_load(tx: &mut TenantTx, run_id: RunId) -> Result<Option<Checkpoint>> {
    run_get(tx, run_id).await?;
    let tenant = tx.tenant();
    checkpoint_latest(tx.conn(), tenant, run_id).await
}

/// The most checkpoints one page holds: each may carry a 1 MiB state.
pub const CHECKPOINT_PAGE_MAX: i64 = 50;

/// A page of the run's checkpoints, newest first: those saved before
/// position `before` (an `event_sequence` from an earlier page), or the
/// newest when `None`. Another tenant's run is not found.
pub async fn checkpoint_list(
    tx: &mut TenantTx,
    run_id: RunId,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Checkpoint>> {
    if !(1..=CHECKPOINT_PAGE_MAX).contains(&limit) {
        return Err(StoreError::InvalidInput(format!(
            "limit must be 1 to {CHECKPOINT_PAGE_MAX}"
        )));
    }
    run_get(tx, run_id).await?;
    let tenant = tx.tenant();
    checkpoints_before(tx.conn(), tenant, run_id, before, limit).await
}
