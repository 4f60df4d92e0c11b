//! Checkpoints: save and load what a resume needs; retention prunes the
//! state of superseded ones, recording each.

use chrono::{DateTime, Utc};
use pplane_domain::{CheckpointId, CorrelationId, EventId, EventType, RunId, TenantId, UserId};
use serde_json::{json, Value};

use super::langgraph::{langgraph_checkpoints_prune, Retention, PRUNE_BATCH};
use super::runs::{run_get, run_open};
use super::{record, record_all, Changed, Origin};
use crate::limits::{check_size, CHECKPOINT_STATE_MAX};
use crate::repositories::checkpoints::{
    checkpoint_insert, checkpoint_latest, checkpoint_states_drop, checkpoints_before, Checkpoint,
    NewCheckpoint, Prunable,
};
use crate::repositories::events::{event_latest_of_steps, NewEvent};
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

/// A tenant-wide checkpoint retention, as the `checkpoint-prune` job and
/// `pplane checkpoints prune` apply it: to LangGraph's documents (each
/// thread's namespaces) and to the states of run checkpoints (each run).
/// Either way a run's newest checkpoint keeps its state, and LangGraph
/// threads' run checkpoints are left to their documents' prune.
#[derive(Debug, Clone, Copy)]
pub enum CheckpointRetention {
    /// The newest N of each thread namespace and of each run stay (N ≥ 1).
    BeyondNewest(u32),
    /// What was written before this time goes.
    Before(DateTime<Utc>),
}

impl CheckpointRetention {
    fn reason(&self) -> String {
        match self {
            CheckpointRetention::BeyondNewest(n) => format!("keep latest {n}"),
            CheckpointRetention::Before(t) => format!("saved before {}", t.to_rfc3339()),
        }
    }

    /// The same retention for LangGraph's documents.
    fn documents(&self) -> Retention {
        match *self {
            CheckpointRetention::BeyondNewest(n) => Retention::BeyondNewest(n),
            CheckpointRetention::Before(t) => Retention::WrittenBefore(t),
        }
    }
}

/// CHECKPOINT_DELETED: version 2 of the run checkpoint `checkpoint`,
/// hanging from the CHECKPOINT_SAVED that recorded it, in its correlation.
/// The one shape of a checkpoint's deletion or pruning, whatever took it.
pub(crate) fn checkpoint_deleted(
    checkpoint: CheckpointId,
    saved: Option<EventId>,
    correlation: CorrelationId,
    origin: &Origin,
    data: Value,
) -> NewEvent {
    NewEvent {
        id: EventId::new(),
        event_type: EventType::CheckpointDeleted,
        aggregate_id: checkpoint.as_uuid(),
        aggregate_version: 2,
        data,
        correlation,
        causation: saved,
        actor: origin.actor.clone(),
    }
}

/// Prunes one batch (at most [`PRUNE_BATCH`]) of the tenant's run
/// checkpoints as `retention` says: their state goes, the rows stay, and
/// each appends CHECKPOINT_DELETED with the reason. The checkpoints pruned.
pub async fn checkpoints_prune_batch(
    tx: &mut TenantTx,
    retention: CheckpointRetention,
    origin: &Origin,
) -> Result<Changed<Vec<CheckpointId>>> {
    let prunable = match retention {
        CheckpointRetention::BeyondNewest(0) => {
            return Err(StoreError::InvalidInput(
                "keep at least the newest checkpoint of each run".into(),
            ))
        }
        CheckpointRetention::BeyondNewest(keep) => Prunable::Beyond {
            keep: i64::from(keep),
            limit: PRUNE_BATCH,
        },
        CheckpointRetention::Before(time) => Prunable::Before {
            time,
            limit: PRUNE_BATCH,
        },
    };
    let tenant = tx.tenant();
    let pruned = checkpoint_states_drop(tx.conn(), tenant, prunable).await?;
    let reason = retention.reason();
    let new: Vec<NewEvent> = pruned
        .iter()
        .map(|p| {
            let data = json!({ "reason": reason, "run_id": p.run_id });
            checkpoint_deleted(p.id, p.saved_event, p.correlation, origin, data)
        })
        .collect();
    let events = if new.is_empty() {
        Vec::new()
    } else {
        record_all(tx, &new).await?
    };
    Ok(Changed::new(
        pruned.into_iter().map(|p| p.id).collect(),
        events,
    ))
}

/// What a tenant-wide prune took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointsPruned {
    /// LangGraph checkpoint documents deleted.
    pub documents: u64,
    /// Run checkpoints whose state was dropped.
    pub states: u64,
}

/// Applies `retention` to all of the tenant's checkpoints, acting as
/// `user`: LangGraph's documents, then the run checkpoints' states, a batch
/// a transaction each, so no transaction holds many locks (or the tenant's
/// head) for long.
pub async fn checkpoints_prune(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    retention: CheckpointRetention,
    origin: &Origin,
) -> Result<CheckpointsPruned> {
    let documents =
        langgraph_checkpoints_prune(store, tenant, user, &retention.documents(), origin).await?;
    let mut states = 0;
    loop {
        let mut tx = store.tenant_tx(tenant, user).await?;
        let pruned = checkpoints_prune_batch(&mut tx, retention, origin).await?;
        tx.commit().await?;
        states += pruned.value.len() as u64;
        if (pruned.value.len() as i64) < PRUNE_BATCH {
            return Ok(CheckpointsPruned { documents, states });
        }
    }
}
