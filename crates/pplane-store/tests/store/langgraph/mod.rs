//! LangGraph threads: a thread is one run, each stored checkpoint a run
//! checkpoint with its event, channel values stored once per version,
//! pending writes stored once per (task, index), searches newest first,
//! another tenant's thread of the same id another thread; and retention,
//! which deletes documents and records each deletion.

mod copy;
mod documents;
mod retention;

use pplane_domain::{TenantId, UserId};
use pplane_store::operations::langgraph::{
    langgraph_checkpoint_put, ChannelValue, CheckpointKey, CheckpointPut, Serialized,
    StoredCheckpoint,
};
use pplane_store::{Store, StoreError};
use serde_json::{json, Value};

use crate::support::agent;

pub fn key(thread: &str, ns: &str, id: &str) -> CheckpointKey {
    CheckpointKey {
        thread_id: thread.into(),
        checkpoint_ns: ns.into(),
        checkpoint_id: id.into(),
    }
}

pub fn value(channel: &str, version: &str, bytes: &[u8]) -> ChannelValue {
    ChannelValue {
        channel: channel.into(),
        version: version.into(),
        value: Serialized {
            kind: "msgpack".into(),
            bytes: Some(bytes.to_vec()),
        },
    }
}

/// A checkpoint document naming `versions`, with step `step` in its metadata.
pub fn put(
    key: CheckpointKey,
    parent: Option<&str>,
    versions: Value,
    step: i64,
    values: Vec<ChannelValue>,
) -> CheckpointPut {
    CheckpointPut {
        parent_checkpoint_id: parent.map(Into::into),
        checkpoint: json!({ "v": 4, "id": key.checkpoint_id, "channel_versions": versions, "versions_seen": {} }),
        metadata: json!({ "source": "loop", "step": step, "run_id": "lg-run-1" }),
        key,
        values,
    }
}

pub async fn stored(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    p: &CheckpointPut,
) -> Result<StoredCheckpoint, StoreError> {
    let mut tx = store.tenant_tx(tenant, user).await?;
    let changed = langgraph_checkpoint_put(&mut tx, p, &agent()).await?;
    tx.commit().await?;
    Ok(changed.value)
}
