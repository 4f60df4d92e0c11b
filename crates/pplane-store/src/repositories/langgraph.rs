//! LangGraph's documents (migration 12): threads, checkpoints, channel
//! values by version, pending writes. Bytes travel to and from SQL as
//! base64 text inside one JSON document per read, so a whole tuple (a
//! checkpoint with its values and writes) is one statement.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pplane_domain::{CheckpointId, CorrelationId, RunId, RunStatus, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Result, StoreError};

/// A serialized value: its serializer's type tag and its bytes (base64
/// in JSON; absent for a value without bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Serialized {
    #[serde(rename = "type")]
    pub kind: String,
    /// The bytes, base64 (standard alphabet, padded); absent when none.
    #[serde(rename = "data", default, with = "base64_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub bytes: Option<Vec<u8>>,
}

/// Text LangGraph leaves empty by default (the root namespace, a task's
/// path): absent or null is empty.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Bytes as standard base64 text in JSON.
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_str(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| STANDARD.decode(text))
            .transpose()
            .map_err(|e| serde::de::Error::custom(format!("data is not base64: {e}")))
    }
}

/// One channel's value at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelValue {
    pub channel: String,
    pub version: String,
    pub value: Serialized,
}

/// A task's pending write against a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingWrite {
    pub task_id: String,
    pub idx: i32,
    pub channel: String,
    pub value: Serialized,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub task_path: String,
}

/// Where a checkpoint lives: thread, namespace, LangGraph's checkpoint id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointKey {
    pub thread_id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub checkpoint_ns: String,
    pub checkpoint_id: String,
}

/// A checkpoint to store: LangGraph's document with the values it brings,
/// and the run checkpoint that records it.
pub struct NewCheckpointDocument<'a> {
    pub key: &'a CheckpointKey,
    pub parent_checkpoint_id: Option<&'a str>,
    pub langgraph_run_id: Option<&'a str>,
    pub checkpoint: &'a Value,
    pub metadata: &'a Value,
    pub values: &'a [ChannelValue],
    pub run_checkpoint: CheckpointId,
    pub run: RunId,
    /// The run checkpoint's state: which LangGraph checkpoint it is.
    pub reference: &'a Value,
    /// The CHECKPOINT_SAVED that records it, and its position.
    pub event_id: pplane_domain::EventId,
    pub event_sequence: i64,
    pub correlation: CorrelationId,
    pub actor: &'a pplane_domain::Actor,
}

/// A stored checkpoint with the values it names and its pending writes.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointTuple {
    pub key: CheckpointKey,
    pub parent_checkpoint_id: Option<String>,
    pub checkpoint: Value,
    pub metadata: Value,
    pub values: Vec<ChannelValue>,
    pub writes: Vec<PendingWrite>,
}

/// The run a thread maps to, if the thread has been seen.
pub async fn thread_run(
    conn: &mut PgConnection,
    tenant: TenantId,
    thread: &str,
) -> Result<Option<RunId>> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM langgraph_threads WHERE tenant_id = $1 AND thread_id = $2",
    )
    .bind(tenant.as_uuid())
    .bind(thread)
    .fetch_optional(conn)
    .await?;
    Ok(id.map(RunId::from_uuid))
}

/// Maps a thread to its run (kept if another transaction mapped it first).
pub async fn thread_insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    thread: &str,
    run: RunId,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO langgraph_threads (tenant_id, id, thread_id) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, thread_id) DO NOTHING",
    )
    .bind(tenant.as_uuid())
    .bind(run.as_uuid())
    .bind(thread)
    .execute(conn)
    .await?;
    Ok(())
}

/// A thread's run as a new checkpoint needs it, locked against its end
/// until the transaction does (as any checkpoint's run is).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThreadHead {
    #[sqlx(try_from = "Uuid")]
    pub run: RunId,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    #[sqlx(try_from = "Uuid")]
    pub correlation: CorrelationId,
    /// What a checkpoint hangs from: the run's newest step event, or the
    /// run's own newest event when it has no steps (a LangGraph thread's).
    pub hangs_from: Option<Uuid>,
}

/// The thread's run, its state and what its next checkpoint hangs from, in
/// one statement; None when the tenant has no such thread.
pub async fn thread_head(
    conn: &mut PgConnection,
    tenant: TenantId,
    thread: &str,
) -> Result<Option<ThreadHead>> {
    Ok(sqlx::query_as(
        "SELECT r.id AS run, r.status, r.correlation_id AS correlation,
                coalesce((SELECT e.id FROM steps s
                          JOIN orchestration_events e ON e.tenant_id = s.tenant_id AND e.id = s.causation_id
                          WHERE s.tenant_id = r.tenant_id AND s.run_id = r.id
                          ORDER BY e.sequence_number DESC LIMIT 1), r.causation_id) AS hangs_from
         FROM langgraph_threads t JOIN runs r ON r.tenant_id = t.tenant_id AND r.id = t.id
         WHERE t.tenant_id = $1 AND t.thread_id = $2
         FOR SHARE OF r",
    )
    .bind(tenant.as_uuid())
    .bind(thread)
    .fetch_optional(conn)
    .await?)
}

/// Stores a checkpoint in one statement: its run checkpoint (recorded by
/// the event at `event`), the channel values not stored yet (a version's
/// value never changes), and LangGraph's document, replacing the one
/// stored under its key. The document's foreign key to its run checkpoint
/// is checked at the statement's end, after both are in.
pub async fn checkpoint_store(
    conn: &mut PgConnection,
    tenant: TenantId,
    c: &NewCheckpointDocument<'_>,
) -> Result<()> {
    let values = c.values;
    let ids: Vec<Uuid> = values.iter().map(|_| Uuid::now_v7()).collect();
    let channels: Vec<&str> = values.iter().map(|v| v.channel.as_str()).collect();
    let versions: Vec<&str> = values.iter().map(|v| v.version.as_str()).collect();
    let kinds: Vec<&str> = values.iter().map(|v| v.value.kind.as_str()).collect();
    let bytes: Vec<Option<&[u8]>> = values.iter().map(|v| v.value.bytes.as_deref()).collect();
    sqlx::query(
        "WITH recorded AS (
             INSERT INTO run_checkpoints (tenant_id, id, run_id, last_step_index, event_sequence, state,
                                          correlation_id, causation_id, actor)
             VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8)),
         stored_values AS (
             INSERT INTO langgraph_blobs (tenant_id, id, thread_id, checkpoint_ns, channel, version, type, blob)
             SELECT $1, v.id, $9, $10, v.channel, v.version, v.kind, v.bytes
             FROM unnest($11::uuid[], $12::text[], $13::text[], $14::text[], $15::bytea[])
                  AS v(id, channel, version, kind, bytes)
             ON CONFLICT (tenant_id, thread_id, checkpoint_ns, channel, version) DO NOTHING)
         INSERT INTO langgraph_checkpoints (tenant_id, id, thread_id, checkpoint_ns, checkpoint_id,
             parent_checkpoint_id, run_checkpoint_id, langgraph_run_id, checkpoint, metadata)
         VALUES ($1, $16, $9, $10, $17, $18, $2, $19, $20, $21)
         ON CONFLICT (tenant_id, thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET
             parent_checkpoint_id = EXCLUDED.parent_checkpoint_id,
             run_checkpoint_id = EXCLUDED.run_checkpoint_id,
             langgraph_run_id = EXCLUDED.langgraph_run_id,
             checkpoint = EXCLUDED.checkpoint,
             metadata = EXCLUDED.metadata",
    )
    .bind(tenant.as_uuid())
    .bind(c.run_checkpoint.as_uuid())
    .bind(c.run.as_uuid())
    .bind(c.event_sequence)
    .bind(c.reference)
    .bind(c.correlation.as_uuid())
    .bind(c.event_id.as_uuid())
    .bind(c.actor.to_string())
    .bind(&c.key.thread_id)
    .bind(&c.key.checkpoint_ns)
    .bind(&ids)
    .bind(&channels)
    .bind(&versions)
    .bind(&kinds)
    .bind(&bytes)
    .bind(Uuid::now_v7())
    .bind(&c.key.checkpoint_id)
    .bind(c.parent_checkpoint_id)
    .bind(c.langgraph_run_id)
    .bind(c.checkpoint)
    .bind(c.metadata)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a task's writes if the thread is known, in one statement: its
/// run, or None (nothing stored) when the tenant has no such thread yet. A
/// write to one of LangGraph's special channels (errors, interrupts, ...:
/// the negative indexes) replaces an earlier one of the same (task, index);
/// any other keeps the first, so a repeated call stores nothing twice.
pub async fn writes_insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    key: &CheckpointKey,
    writes: &[PendingWrite],
) -> Result<Option<RunId>> {
    let ids: Vec<Uuid> = writes.iter().map(|_| Uuid::now_v7()).collect();
    let tasks: Vec<&str> = writes.iter().map(|w| w.task_id.as_str()).collect();
    let idxs: Vec<i32> = writes.iter().map(|w| w.idx).collect();
    let channels: Vec<&str> = writes.iter().map(|w| w.channel.as_str()).collect();
    let kinds: Vec<&str> = writes.iter().map(|w| w.value.kind.as_str()).collect();
    let bytes: Vec<Option<&[u8]>> = writes.iter().map(|w| w.value.bytes.as_deref()).collect();
    let paths: Vec<&str> = writes.iter().map(|w| w.task_path.as_str()).collect();
    let run: Option<Uuid> = sqlx::query_scalar(
        "WITH thread AS (
             SELECT id FROM langgraph_threads WHERE tenant_id = $1 AND thread_id = $2),
         stored AS (
             INSERT INTO langgraph_writes (tenant_id, id, thread_id, checkpoint_ns, checkpoint_id, task_id, idx,
                                           channel, type, blob, task_path)
             SELECT $1, w.id, $2, $3, $4, w.task, w.idx, w.channel, w.kind, w.bytes, w.path
             FROM unnest($5::uuid[], $6::text[], $7::int4[], $8::text[], $9::text[], $10::bytea[], $11::text[])
                  AS w(id, task, idx, channel, kind, bytes, path)
             WHERE EXISTS (SELECT 1 FROM thread)
             ON CONFLICT (tenant_id, thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE SET
                 channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob,
                 task_path = EXCLUDED.task_path
                 WHERE EXCLUDED.idx < 0)
         SELECT id FROM thread",
    )
    .bind(tenant.as_uuid())
    .bind(&key.thread_id)
    .bind(&key.checkpoint_ns)
    .bind(&key.checkpoint_id)
    .bind(&ids)
    .bind(&tasks)
    .bind(&idxs)
    .bind(&channels)
    .bind(&kinds)
    .bind(&bytes)
    .bind(&paths)
    .fetch_optional(conn)
    .await?;
    Ok(run.map(RunId::from_uuid))
}

/// A checkpoint row as one JSON document: the row, the values its
/// `channel_versions` name, its writes in (task path, task, index) order.
/// PostgreSQL's base64 breaks lines; they are taken out.
const TUPLE_SELECT: &str = "
    SELECT jsonb_build_object(
        'thread_id', c.thread_id, 'checkpoint_ns', c.checkpoint_ns, 'checkpoint_id', c.checkpoint_id,
        'parent_checkpoint_id', c.parent_checkpoint_id, 'checkpoint', c.checkpoint, 'metadata', c.metadata,
        'values', (SELECT coalesce(jsonb_agg(jsonb_build_array(b.channel, b.version, b.type,
                                   translate(encode(b.blob, 'base64'), E'\\n', ''))), '[]')
                   FROM jsonb_each_text(c.checkpoint -> 'channel_versions') v
                   JOIN langgraph_blobs b ON b.tenant_id = c.tenant_id AND b.thread_id = c.thread_id
                    AND b.checkpoint_ns = c.checkpoint_ns AND b.channel = v.key AND b.version = v.value),
        'writes', (SELECT coalesce(jsonb_agg(jsonb_build_array(w.task_id, w.idx, w.channel, w.type,
                                   translate(encode(w.blob, 'base64'), E'\\n', ''), w.task_path)
                                   ORDER BY w.task_path, w.task_id, w.idx), '[]')
                   FROM langgraph_writes w WHERE w.tenant_id = c.tenant_id AND w.thread_id = c.thread_id
                    AND w.checkpoint_ns = c.checkpoint_ns AND w.checkpoint_id = c.checkpoint_id))
    FROM langgraph_checkpoints c";

/// One checkpoint of a thread's namespace: `checkpoint_id`'s, or the newest.
pub async fn tuple_get(
    conn: &mut PgConnection,
    tenant: TenantId,
    thread: &str,
    ns: &str,
    checkpoint_id: Option<&str>,
) -> Result<Option<CheckpointTuple>> {
    let doc: Option<Value> = sqlx::query_scalar(&format!(
        "{TUPLE_SELECT} WHERE c.tenant_id = $1 AND c.thread_id = $2 AND c.checkpoint_ns = $3
           AND ($4::text IS NULL OR c.checkpoint_id = $4)
         ORDER BY c.checkpoint_id DESC LIMIT 1"
    ))
    .bind(tenant.as_uuid())
    .bind(thread)
    .bind(ns)
    .bind(checkpoint_id)
    .fetch_optional(conn)
    .await?;
    doc.map(tuple_from).transpose()
}

/// Every checkpoint of a thread, every namespace, oldest first.
pub async fn thread_tuples(
    conn: &mut PgConnection,
    tenant: TenantId,
    thread: &str,
) -> Result<Vec<CheckpointTuple>> {
    let docs: Vec<Value> = sqlx::query_scalar(&format!(
        "{TUPLE_SELECT} WHERE c.tenant_id = $1 AND c.thread_id = $2 ORDER BY c.checkpoint_id, c.checkpoint_ns"
    ))
    .bind(tenant.as_uuid())
    .bind(thread)
    .fetch_all(conn)
    .await?;
    docs.into_iter().map(tuple_from).collect()
}

/// What a search of checkpoints asks for; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct CheckpointSearch {
    pub thread_id: Option<String>,
    pub checkpoint_ns: Option<String>,
    pub checkpoint_id: Option<String>,
    /// Metadata that must be contained in the checkpoint's (JSON containment).
    pub metadata: Option<Value>,
    /// Only checkpoints whose id sorts before this one (older).
    pub before: Option<String>,
    pub limit: i64,
}

/// Checkpoints newest first (by checkpoint id, which sorts by time).
pub async fn tuple_search(
    conn: &mut PgConnection,
    tenant: TenantId,
    search: &CheckpointSearch,
) -> Result<Vec<CheckpointTuple>> {
    let docs: Vec<Value> = sqlx::query_scalar(&format!(
        "{TUPLE_SELECT} WHERE c.tenant_id = $1
           AND ($2::text IS NULL OR c.thread_id = $2)
           AND ($3::text IS NULL OR c.checkpoint_ns = $3)
           AND ($4::text IS NULL OR c.checkpoint_id = $4)
           AND ($5::jsonb IS NULL OR c.metadata @> $5)
           AND ($6::text IS NULL OR c.checkpoint_id < $6)
         ORDER BY c.checkpoint_id DESC LIMIT $7"
    ))
    .bind(tenant.as_uuid())
    .bind(search.thread_id.as_deref())
    .bind(search.checkpoint_ns.as_deref())
    .bind(search.checkpoint_id.as_deref())
    .bind(search.metadata.as_ref())
    .bind(search.before.as_deref())
    .bind(search.limit)
    .fetch_all(conn)
    .await?;
    docs.into_iter().map(tuple_from).collect()
}

#[derive(Deserialize)]
struct TupleDoc {
    thread_id: String,
    checkpoint_ns: String,
    checkpoint_id: String,
    parent_checkpoint_id: Option<String>,
    checkpoint: Value,
    metadata: Value,
    values: Vec<(String, String, String, Option<String>)>,
    writes: Vec<(String, i32, String, String, Option<String>, String)>,
}

fn tuple_from(doc: Value) -> Result<CheckpointTuple> {
    let d: TupleDoc = serde_json::from_value(doc).map_err(|e| {
        StoreError::Internal(format!("a LangGraph checkpoint read back malformed: {e}"))
    })?;
    let bytes = |b: Option<String>| -> Result<Option<Vec<u8>>> {
        b.map(|s| STANDARD.decode(s)).transpose().map_err(|e| {
            StoreError::Internal(format!("a LangGraph value read back malformed: {e}"))
        })
    };
    let values = d
        .values
        .into_iter()
        .map(|(channel, version, kind, b)| {
            Ok(ChannelValue {
                channel,
                version,
                value: Serialized {
                    kind,
                    bytes: bytes(b)?,
                },
            })
        })
        .collect::<Result<_>>()?;
    let writes = d
        .writes
        .into_iter()
        .map(|(task_id, idx, channel, kind, b, task_path)| {
            Ok(PendingWrite {
                task_id,
                idx,
                channel,
                value: Serialized {
                    kind,
                    bytes: bytes(b)?,
                },
                task_path,
            })
        })
        .collect::<Result<_>>()?;
    Ok(CheckpointTuple {
        key: CheckpointKey {
            thread_id: d.thread_id,
            checkpoint_ns: d.checkpoint_ns,
            checkpoint_id: d.checkpoint_id,
        },
        parent_checkpoint_id: d.parent_checkpoint_id,
        checkpoint: d.checkpoint,
        metadata: d.metadata,
        values,
        writes,
    })
}
