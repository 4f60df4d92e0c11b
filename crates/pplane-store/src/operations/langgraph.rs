//! LangGraph threads on the plane (docs/langgraph.md). A thread is a run:
//! its first write ingests a signal on channel `langgraph` whose source id is
//! the thread id (so racing first writes make one run) and starts the run.
//! A stored checkpoint is a run checkpoint, with its CHECKPOINT_SAVED, and
//! LangGraph's document beside it; channel values are stored once per
//! version.

use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use pplane_domain::{
    CheckpointId, EventId, EventType, Lifecycle, RunId, RunStatus, TenantId, UserId,
};
use serde_json::{json, Value};

use super::checkpoints::checkpoint_deleted;
use super::ingest::{signal_ingest, SignalInput};
use super::runs::{run_get, run_start};
use super::{record, record_all, Changed, Origin, Recorded};
use crate::limits::{check_size, CHECKPOINT_STATE_MAX};
use crate::repositories::events::NewEvent;
use crate::repositories::langgraph::{
    checkpoint_store, thread_head, thread_insert, thread_run, thread_tuples, tuple_get,
    tuple_search, writes_insert, NewCheckpointDocument, ThreadHead,
};
pub use crate::repositories::langgraph::{
    ChannelValue, CheckpointKey, CheckpointSearch, CheckpointTuple, PendingWrite, Serialized,
};
use crate::repositories::langgraph_retention::{documents_delete, Doomed};
use crate::unit_of_work::TenantTx;
use crate::{Result, Store, StoreError};

/// The signal channel whose source ids are LangGraph thread ids.
pub const LANGGRAPH_CHANNEL: &str = "langgraph";
/// The most checkpoints one search answers.
pub const LANGGRAPH_PAGE_MAX: i64 = 100;
/// The largest serialized value (a channel value or a write).
pub const LANGGRAPH_VALUE_MAX: usize = 16 * 1024 * 1024;
const METADATA_MAX: usize = 256 * 1024;
/// Lengths of LangGraph's texts, as migration 12's columns hold them.
const KEY: RangeInclusive<usize> = 1..=255;
const NAMESPACE: RangeInclusive<usize> = 0..=255;
const TYPE: RangeInclusive<usize> = 1..=100;
const TASK_PATH: RangeInclusive<usize> = 0..=1000;

/// A checkpoint to store: its document without channel values, its
/// metadata, and the values of the channels whose versions are new.
#[derive(Debug, Clone)]
pub struct CheckpointPut {
    pub key: CheckpointKey,
    pub parent_checkpoint_id: Option<String>,
    pub checkpoint: Value,
    pub metadata: Value,
    pub values: Vec<ChannelValue>,
}

/// Where a stored checkpoint went: its key and its thread's run.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredCheckpoint {
    pub key: CheckpointKey,
    pub run_id: RunId,
}

/// Stores a checkpoint (a re-put of its id replaces the document) and
/// records it as a checkpoint of the thread's run.
pub async fn langgraph_checkpoint_put(
    tx: &mut TenantTx,
    put: &CheckpointPut,
    origin: &Origin,
) -> Result<Changed<StoredCheckpoint>> {
    key_check(&put.key)?;
    if let Some(parent) = &put.parent_checkpoint_id {
        text_check("parent_checkpoint_id", parent, KEY)?;
    }
    if !put.checkpoint.is_object() || !put.metadata.is_object() {
        return Err(StoreError::InvalidInput(
            "checkpoint and metadata must be JSON objects".into(),
        ));
    }
    check_size("checkpoint", &put.checkpoint, CHECKPOINT_STATE_MAX)?;
    check_size("metadata", &put.metadata, METADATA_MAX)?;
    for value in &put.values {
        text_check("channel", &value.channel, KEY)?;
        text_check("version", &value.version, KEY)?;
        serialized_check(&value.value)?;
    }
    let (head, mut events) = thread_head_open(tx, &put.key.thread_id, origin).await?;
    events.push(document_store(tx, &head, put, origin).await?);
    Ok(Changed::new(
        StoredCheckpoint {
            key: put.key.clone(),
            run_id: head.run,
        },
        events,
    ))
}

/// The thread's head, opening the thread first when it is new.
async fn thread_head_open(
    tx: &mut TenantTx,
    thread: &str,
    origin: &Origin,
) -> Result<(ThreadHead, Vec<Recorded>)> {
    let tenant = tx.tenant();
    if let Some(head) = thread_head(tx.conn(), tenant, thread).await? {
        return Ok((head, Vec::new()));
    }
    let (_, events) = thread_open(tx, thread, origin).await?;
    let head = thread_head(tx.conn(), tenant, thread)
        .await?
        .ok_or_else(|| StoreError::Internal("a LangGraph thread opened without a run".into()))?;
    Ok((head, events))
}

/// Records a checkpoint of the thread's run (CHECKPOINT_SAVED, hanging
/// from where the run's progress stands) and stores LangGraph's document
/// beside it with the values it brings; the event appended.
async fn document_store(
    tx: &mut TenantTx,
    head: &ThreadHead,
    put: &CheckpointPut,
    origin: &Origin,
) -> Result<Recorded> {
    if head.status.is_terminal() {
        return Err(StoreError::RunFinished {
            run: head.run.to_string(),
            status: head.status.as_str(),
            what: "checkpoints",
        });
    }
    let langgraph_run = put.metadata.get("run_id").and_then(Value::as_str);
    let reference = json!({ "langgraph": {
        "thread_id": put.key.thread_id, "checkpoint_ns": put.key.checkpoint_ns,
        "checkpoint_id": put.key.checkpoint_id, "run_id": langgraph_run,
        "step": put.metadata.get("step"), "source": put.metadata.get("source"),
    }});
    let id = CheckpointId::new();
    let data = json!({ "run_id": head.run, "last_step_index": null,
                       "state_bytes": reference.to_string().len() });
    let recorded = record(
        tx,
        head.correlation,
        origin,
        head.hangs_from.map(EventId::from_uuid),
        EventType::CheckpointSaved,
        ("checkpoint", id.as_uuid(), 1),
        data,
    )
    .await?;
    let document = NewCheckpointDocument {
        key: &put.key,
        parent_checkpoint_id: put.parent_checkpoint_id.as_deref(),
        langgraph_run_id: langgraph_run,
        checkpoint: &put.checkpoint,
        metadata: &put.metadata,
        values: &put.values,
        run_checkpoint: id,
        run: head.run,
        reference: &reference,
        event_id: recorded.event_id,
        event_sequence: recorded.sequence_number,
        correlation: head.correlation,
        actor: &origin.actor,
    };
    let tenant = tx.tenant();
    checkpoint_store(tx.conn(), tenant, &document).await?;
    Ok(recorded)
}

/// Stores a task's pending writes against a checkpoint. A write to a
/// special channel (a negative index: errors, interrupts) replaces an
/// earlier one of the same (task, index); any other keeps the first, so a
/// repeated call stores nothing twice.
pub async fn langgraph_writes_put(
    tx: &mut TenantTx,
    key: &CheckpointKey,
    writes: &[PendingWrite],
    origin: &Origin,
) -> Result<Changed<StoredCheckpoint>> {
    key_check(key)?;
    for write in writes {
        text_check("task_id", &write.task_id, KEY)?;
        text_check("channel", &write.channel, KEY)?;
        text_check("task_path", &write.task_path, TASK_PATH)?;
        serialized_check(&write.value)?;
    }
    let tenant = tx.tenant();
    let (run, events) = match writes_insert(tx.conn(), tenant, key, writes).await? {
        Some(run) => (run, Vec::new()),
        None => {
            // With asynchronous durability a task's writes may come before
            // the thread's first checkpoint: the thread is opened here too.
            let (run, events) = thread_open(tx, &key.thread_id, origin).await?;
            writes_insert(tx.conn(), tenant, key, writes).await?;
            (run, events)
        }
    };
    Ok(Changed::new(
        StoredCheckpoint {
            key: key.clone(),
            run_id: run,
        },
        events,
    ))
}

/// A thread's checkpoint in a namespace: `checkpoint_id`'s, or the newest;
/// None when there is none (another tenant's threads are not seen).
pub async fn langgraph_tuple_get(
    tx: &mut TenantTx,
    thread_id: &str,
    checkpoint_ns: &str,
    checkpoint_id: Option<&str>,
) -> Result<Option<CheckpointTuple>> {
    let tenant = tx.tenant();
    tuple_get(tx.conn(), tenant, thread_id, checkpoint_ns, checkpoint_id).await
}

/// The tenant's checkpoints that match, newest first, at most
/// [`LANGGRAPH_PAGE_MAX`] (a limit outside 1..=that is refused).
pub async fn langgraph_checkpoint_search(
    tx: &mut TenantTx,
    search: &CheckpointSearch,
) -> Result<Vec<CheckpointTuple>> {
    if !(1..=LANGGRAPH_PAGE_MAX).contains(&search.limit) {
        return Err(StoreError::InvalidInput(format!(
            "limit must be 1 to {LANGGRAPH_PAGE_MAX}"
        )));
    }
    if search.metadata.as_ref().is_some_and(|m| !m.is_object()) {
        return Err(StoreError::InvalidInput(
            "a metadata filter must be a JSON object".into(),
        ));
    }
    let tenant = tx.tenant();
    tuple_search(tx.conn(), tenant, search).await
}

/// The run a LangGraph thread maps to; None when the tenant has no such
/// thread.
pub async fn langgraph_thread_run(tx: &mut TenantTx, thread: &str) -> Result<Option<RunId>> {
    let tenant = tx.tenant();
    thread_run(tx.conn(), tenant, thread).await
}

/// Opens a thread its caller has just found missing: ingests its signal
/// and starts its run (a racing first write finds the signal a duplicate
/// and this thread's run); the events that appended, if any.
async fn thread_open(
    tx: &mut TenantTx,
    thread: &str,
    origin: &Origin,
) -> Result<(RunId, Vec<Recorded>)> {
    let tenant = tx.tenant();
    let input = SignalInput {
        channel: LANGGRAPH_CHANNEL.into(),
        source_id: thread.into(),
        payload: json!({}),
        domain_refs: json!({ "langgraph_thread": thread }),
        actor: origin.actor.clone(),
    };
    // The signal's key is held until commit, so a racing first write waits
    // here and then finds this thread's run as a duplicate.
    let ingested = signal_ingest(tx, &input).await?;
    let mut events = ingested.events.clone();
    let run = run_get(tx, ingested.run_id).await?;
    if run.status == RunStatus::Pending {
        let started = run_start(tx, run.id, &Origin::by(origin.actor.clone())).await?;
        events.extend(started.events.iter().copied());
    }
    thread_insert(tx.conn(), tenant, thread, run.id).await?;
    Ok((run.id, events))
}

fn key_check(key: &CheckpointKey) -> Result<()> {
    text_check("thread_id", &key.thread_id, KEY)?;
    text_check("checkpoint_ns", &key.checkpoint_ns, NAMESPACE)?;
    text_check("checkpoint_id", &key.checkpoint_id, KEY)
}

/// LangGraph's keys: text without NUL, as long as its column allows (the
/// root namespace and a task path may be empty).
fn text_check(field: &str, value: &str, chars: RangeInclusive<usize>) -> Result<()> {
    if !chars.contains(&value.chars().count()) || value.contains('\0') {
        return Err(StoreError::InvalidInput(format!(
            "{field} must be {} to {} characters without NUL",
            chars.start(),
            chars.end()
        )));
    }
    Ok(())
}

fn serialized_check(value: &Serialized) -> Result<()> {
    text_check("type", &value.kind, TYPE)?;
    let size = value.bytes.as_ref().map_or(0, Vec::len);
    if size > LANGGRAPH_VALUE_MAX {
        return Err(StoreError::PayloadTooLarge {
            field: "value",
            limit: LANGGRAPH_VALUE_MAX,
            actual: size,
        });
    }
    Ok(())
}

/// Copies every checkpoint of `source` (every namespace, with the values it
/// names and its pending writes) into `target`, oldest first, each recorded
/// as a checkpoint of the target thread's own run; the source is unchanged.
/// A source without checkpoints copies nothing and opens no thread.
pub async fn langgraph_thread_copy(
    tx: &mut TenantTx,
    source: &str,
    target: &str,
    origin: &Origin,
) -> Result<Changed<Vec<CheckpointKey>>> {
    text_check("source thread_id", source, KEY)?;
    text_check("target thread_id", target, KEY)?;
    if source == target {
        return Err(StoreError::InvalidInput(
            "a thread cannot be copied onto itself".into(),
        ));
    }
    let tenant = tx.tenant();
    let tuples = thread_tuples(tx.conn(), tenant, source).await?;
    let mut copied = Vec::with_capacity(tuples.len());
    if tuples.is_empty() {
        return Ok(Changed::new(copied, Vec::new()));
    }
    // The documents come from the store, checked when they went in.
    let (head, mut events) = thread_head_open(tx, target, origin).await?;
    for tuple in tuples {
        let key = CheckpointKey {
            thread_id: target.into(),
            ..tuple.key
        };
        let put = CheckpointPut {
            key: key.clone(),
            parent_checkpoint_id: tuple.parent_checkpoint_id,
            checkpoint: tuple.checkpoint,
            metadata: tuple.metadata,
            values: tuple.values,
        };
        events.push(document_store(tx, &head, &put, origin).await?);
        writes_insert(tx.conn(), tenant, &key, &tuple.writes).await?;
        copied.push(key);
    }
    Ok(Changed::new(copied, events))
}

/// What a deletion of LangGraph checkpoints takes, and why.
#[derive(Debug, Clone)]
pub enum Retention {
    /// `delete_thread`, and `prune(strategy="delete")`: every document.
    ThreadDelete(String),
    /// `delete_for_runs`: the checkpoints of these LangGraph runs.
    RunsDelete(Vec<String>),
    /// `prune(strategy="keep_latest")`: all but the newest per namespace.
    KeepLatest(String),
    /// `pplane checkpoints prune --keep-latest N`: in every thread of the
    /// tenant, what is beyond the newest N of each namespace; a batch of at
    /// most [`PRUNE_BATCH`] at a time.
    BeyondNewest(u32),
    /// `pplane checkpoints prune --older-than D`: checkpoints last written
    /// before this time, in every thread; a batch at a time.
    WrittenBefore(DateTime<Utc>),
}

impl Retention {
    fn reason(&self) -> String {
        match self {
            Retention::ThreadDelete(_) => "thread deleted".into(),
            Retention::RunsDelete(_) => "runs deleted".into(),
            Retention::KeepLatest(_) => "keep latest".into(),
            Retention::BeyondNewest(n) => format!("keep latest {n}"),
            Retention::WrittenBefore(t) => format!("written before {}", t.to_rfc3339()),
        }
    }
}

/// The most checkpoints one transaction of a tenant-wide prune deletes.
pub const PRUNE_BATCH: i64 = 1000;

/// Events of one append, at most: a prune of a long thread goes in chunks.
const DELETED_CHUNK: usize = 1000;

/// Deletes LangGraph checkpoint documents (their writes, and the values no
/// remaining checkpoint names). Each deleted checkpoint appends
/// CHECKPOINT_DELETED on the run checkpoint that recorded it, hanging from
/// that record's CHECKPOINT_SAVED and naming why; runs, run checkpoints and
/// their events stay. Nothing to delete is no change.
pub async fn langgraph_checkpoints_delete(
    tx: &mut TenantTx,
    retention: &Retention,
    origin: &Origin,
) -> Result<Changed<Vec<CheckpointKey>>> {
    let doomed = match retention {
        Retention::ThreadDelete(t) => {
            text_check("thread_id", t, KEY)?;
            Doomed::Thread(t)
        }
        Retention::KeepLatest(t) => {
            text_check("thread_id", t, KEY)?;
            Doomed::AllButNewest(t)
        }
        Retention::RunsDelete(runs) => {
            for run in runs {
                text_check("run_id", run, KEY)?;
            }
            Doomed::Runs(runs)
        }
        Retention::BeyondNewest(0) => {
            return Err(StoreError::InvalidInput(
                "keep at least the newest checkpoint (use delete to take them all)".into(),
            ))
        }
        Retention::BeyondNewest(keep) => Doomed::Beyond {
            keep: i64::from(*keep),
            limit: PRUNE_BATCH,
        },
        Retention::WrittenBefore(time) => Doomed::Before {
            time: *time,
            limit: PRUNE_BATCH,
        },
    };
    let reason = retention.reason();
    let tenant = tx.tenant();
    let deleted = documents_delete(tx.conn(), tenant, &doomed).await?;
    let mut events = Vec::with_capacity(deleted.len());
    for chunk in deleted.chunks(DELETED_CHUNK) {
        let new: Vec<NewEvent> = chunk
            .iter()
            .map(|d| {
                let data = json!({ "reason": reason, "thread_id": d.key.thread_id,
                                   "checkpoint_ns": d.key.checkpoint_ns, "checkpoint_id": d.key.checkpoint_id });
                checkpoint_deleted(d.run_checkpoint, d.saved_event, d.correlation, origin, data)
            })
            .collect();
        events.extend(record_all(tx, &new).await?);
    }
    Ok(Changed::new(
        deleted.into_iter().map(|d| d.key).collect(),
        events,
    ))
}

/// Prunes every thread of `tenant` as a tenant-wide `retention` says
/// ([`Retention::BeyondNewest`], [`Retention::WrittenBefore`]), acting as
/// `user`: a batch of checkpoints a transaction, so no transaction holds
/// many locks for long; how many checkpoints went.
pub async fn langgraph_checkpoints_prune(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    retention: &Retention,
    origin: &Origin,
) -> Result<u64> {
    let mut total = 0;
    loop {
        let mut tx = store.tenant_tx(tenant, user).await?;
        let deleted = langgraph_checkpoints_delete(&mut tx, retention, origin).await?;
        tx.commit().await?;
        total += deleted.value.len() as u64;
        let batched = matches!(
            retention,
            Retention::BeyondNewest(_) | Retention::WrittenBefore(_)
        );
        if !batched || (deleted.value.len() as i64) < PRUNE_BATCH {
            return Ok(total);
        }
    }
}
