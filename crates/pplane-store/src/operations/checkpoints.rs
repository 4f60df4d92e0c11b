//! Checkpoints: save and load what a resume needs; retention prunes the
//! state of superseded ones, recording each.

use chrono::{DateTime, Utc};
use pplane_domain::{CheckpointId, EventId, EventType, RunId, TenantId, UserId};
use serde_json::{json, Value};

use super::langgraph::PRUNE_BATCH;
use super::runs::{run_get, run_open};
use super::{record, Changed, Origin, Recorded};
use crate::limits::{check_size, CHECKPOINT_STATE_MAX};
use crate::repositories::checkpoints::{
    checkpoint_insert, checkpoint_latest, checkpoints_before, checkpoints_prune, Checkpoint,
    NewCheckpoint, Prunable,
};
use crate::repositories::events::{event_append, event_latest_of_steps, NewEvent};
use crate::repositories::runs::RunLock;
use crate::{Result, Store, StoreError, TenantTx};

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

/// How much of each run's checkpoint history retention keeps. Either way a
/// run's newest checkpoint keeps its state, and LangGraph threads' run
/// checkpoints are left to their thread's prune
/// ([`super::langgraph::langgraph_checkpoints_prune`]).
#[derive(Debug, Clone, Copy)]
pub enum RunRetention {
    /// The newest N of each run keep their state (N ≥ 1).
    BeyondNewest(u32),
    /// Checkpoints saved before this time lose theirs.
    SavedBefore(DateTime<Utc>),
}

impl RunRetention {
    fn reason(&self) -> String {
        match self {
            RunRetention::BeyondNewest(n) => format!("keep latest {n}"),
            RunRetention::SavedBefore(t) => format!("saved before {}", t.to_rfc3339()),
        }
    }
}

/// Prunes one batch (at most [`PRUNE_BATCH`]) of the tenant's run
/// checkpoints as `retention` says: their state goes, the rows stay, and
/// each appends CHECKPOINT_DELETED (version 2 of the checkpoint) hanging
/// from its CHECKPOINT_SAVED, with the reason. The checkpoints pruned.
pub async fn checkpoints_prune_batch(
    tx: &mut TenantTx,
    retention: RunRetention,
    origin: &Origin,
) -> Result<Changed<Vec<CheckpointId>>> {
    let prunable = match retention {
        RunRetention::BeyondNewest(0) => {
            return Err(StoreError::InvalidInput(
                "keep at least the newest checkpoint of each run".into(),
            ))
        }
        RunRetention::BeyondNewest(keep) => Prunable::Beyond {
            keep: i64::from(keep),
            limit: PRUNE_BATCH,
        },
        RunRetention::SavedBefore(time) => Prunable::Before {
            time,
            limit: PRUNE_BATCH,
        },
    };
    let tenant = tx.tenant();
    let pruned = checkpoints_prune(tx.conn(), tenant, prunable).await?;
    if pruned.is_empty() {
        return Ok(Changed::new(Vec::new(), Vec::new()));
    }
    let reason = retention.reason();
    let new: Vec<NewEvent> = pruned
        .iter()
        .map(|p| NewEvent {
            id: EventId::new(),
            event_type: EventType::CheckpointDeleted,
            aggregate_id: p.id.as_uuid(),
            aggregate_version: 2,
            data: json!({ "reason": reason, "run_id": p.run_id }),
            correlation: p.correlation,
            causation: p.saved_event,
            actor: origin.actor.clone(),
        })
        .collect();
    let positions = event_append(tx.conn(), tenant, &new).await?;
    let events = new
        .iter()
        .zip(positions)
        .map(|(e, sequence_number)| Recorded {
            event_id: e.id,
            sequence_number,
        })
        .collect();
    Ok(Changed::new(
        pruned.into_iter().map(|p| p.id).collect(),
        events,
    ))
}

/// Prunes all of the tenant's run checkpoints that `retention` takes,
/// acting as `user`: a batch a transaction, so no transaction holds many
/// locks for long (or the tenant's head for long); how many were pruned.
pub async fn checkpoints_prune_all(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    retention: RunRetention,
    origin: &Origin,
) -> Result<u64> {
    let mut total = 0;
    loop {
        let mut tx = store.tenant_tx(tenant, user).await?;
        let pruned = checkpoints_prune_batch(&mut tx, retention, origin).await?;
        tx.commit().await?;
        total += pruned.value.len() as u64;
        if (pruned.value.len() as i64) < PRUNE_BATCH {
            return Ok(total);
        }
    }
}
