//! LangGraph's checkpointer protocol over HTTP (docs/langgraph.md): one
//! request for each call `pplane-langgraph`'s saver gets, each call one
//! transaction. A thread id is LangGraph's, unique in the tenant; values
//! travel as their serializer's type tag and base64 bytes.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use pplane_domain::ApiScope;
use pplane_store::operations::langgraph::{
    langgraph_checkpoint_put, langgraph_checkpoint_search, langgraph_checkpoints_delete,
    langgraph_thread_copy, langgraph_tuple_get, langgraph_writes_put, ChannelValue, CheckpointKey,
    CheckpointPut, CheckpointSearch, CheckpointTuple, PendingWrite, Retention, StoredCheckpoint,
    LANGGRAPH_PAGE_MAX,
};
use pplane_store::operations::{Changed, Origin};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{By, Moved};
use crate::body::{Body, Params};
use crate::problem::{Kind, Problem};
use crate::session::Session;

/// Who makes a LangGraph change: the actor alone (a thread's changes hang
/// from its run's newest event, and LangGraph keeps no versions to compare).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LanggraphBy {
    /// `agent:…`, `user:…`, `system:…` or `external:…` (default `user:<the key's principal>`).
    pub actor: Option<String>,
}

impl LanggraphBy {
    fn origin(self, session: &Session) -> Result<Origin, Problem> {
        By {
            actor: self.actor,
            ..By::default()
        }
        .origin(session)
    }
}

/// A checkpoint to store in the thread, with the values of the channels
/// whose versions it makes new.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CheckpointPutBody {
    /// The namespace (absent or empty for the root graph).
    pub checkpoint_ns: Option<String>,
    pub checkpoint_id: String,
    pub parent_checkpoint_id: Option<String>,
    /// LangGraph's checkpoint document without its channel values.
    pub checkpoint: Value,
    pub metadata: Value,
    #[serde(default)]
    pub values: Vec<ChannelValue>,
    #[serde(flatten)]
    pub by: LanggraphBy,
}

#[utoipa::path(
    post,
    operation_id = "langgraph_checkpoint_put",
    path = "/v1/langgraph/threads/{thread}/checkpoints",
    tag = "langgraph",
    summary = "Store a LangGraph checkpoint (a re-put of its id replaces it); recorded as a checkpoint of the thread's run",
    params(("thread" = String, Path, description = "A LangGraph thread id")),
    request_body = CheckpointPutBody,
    responses((status = 201, description = "The checkpoint's key and the thread's run", body = Changed<StoredCheckpoint>)),
    security(("api_key" = [])),
)]
pub async fn checkpoint_put(
    mut session: Session,
    Path(thread): Path<String>,
    Body(body): Body<CheckpointPutBody>,
) -> Result<(StatusCode, Json<Changed<StoredCheckpoint>>), Problem> {
    session.require(ApiScope::Runtime)?;
    let origin = body.by.origin(&session)?;
    let put = CheckpointPut {
        key: CheckpointKey {
            thread_id: thread,
            checkpoint_ns: body.checkpoint_ns.unwrap_or_default(),
            checkpoint_id: body.checkpoint_id,
        },
        parent_checkpoint_id: body.parent_checkpoint_id,
        checkpoint: body.checkpoint,
        metadata: body.metadata,
        values: body.values,
    };
    let stored = langgraph_checkpoint_put(&mut session.tx, &put, &origin).await?;
    session.commit().await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// A task's pending writes against one checkpoint of the thread.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WritesBody {
    /// The namespace (absent or empty for the root graph).
    pub checkpoint_ns: Option<String>,
    pub checkpoint_id: String,
    pub writes: Vec<PendingWrite>,
    #[serde(flatten)]
    pub by: LanggraphBy,
}

#[utoipa::path(
    post,
    operation_id = "langgraph_writes_put",
    path = "/v1/langgraph/threads/{thread}/writes",
    tag = "langgraph",
    summary = "Store a task's pending writes; a repeated write keeps the first, except on the special (negative-index) channels",
    params(("thread" = String, Path, description = "A LangGraph thread id")),
    request_body = WritesBody,
    responses((status = 200, description = "The checkpoint the writes belong to and the thread's run", body = Changed<StoredCheckpoint>)),
    security(("api_key" = [])),
)]
pub async fn writes_put(
    mut session: Session,
    Path(thread): Path<String>,
    Body(body): Body<WritesBody>,
) -> Moved<StoredCheckpoint> {
    session.require(ApiScope::Runtime)?;
    let origin = body.by.origin(&session)?;
    let key = CheckpointKey {
        thread_id: thread,
        checkpoint_ns: body.checkpoint_ns.unwrap_or_default(),
        checkpoint_id: body.checkpoint_id,
    };
    let stored = langgraph_writes_put(&mut session.tx, &key, &body.writes, &origin).await?;
    session.commit().await?;
    Ok(Json(stored))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TupleQuery {
    /// The namespace (default: the root graph's, empty).
    pub checkpoint_ns: Option<String>,
    /// A checkpoint id; absent: the namespace's newest.
    pub checkpoint_id: Option<String>,
}

#[utoipa::path(
    get,
    operation_id = "langgraph_tuple_get",
    path = "/v1/langgraph/threads/{thread}/checkpoint",
    tag = "langgraph",
    summary = "A checkpoint of the thread with its channel values and pending writes (the newest when no id is given)",
    params(("thread" = String, Path, description = "A LangGraph thread id"), TupleQuery),
    responses((status = 200, description = "The checkpoint with its values and pending writes", body = CheckpointTuple)),
    security(("api_key" = [])),
)]
pub async fn tuple_get(
    mut session: Session,
    Path(thread): Path<String>,
    Params(q): Params<TupleQuery>,
) -> Result<Json<CheckpointTuple>, Problem> {
    let ns = q.checkpoint_ns.unwrap_or_default();
    let tuple =
        langgraph_tuple_get(&mut session.tx, &thread, &ns, q.checkpoint_id.as_deref()).await?;
    session.commit().await?;
    tuple
        .map(Json)
        .ok_or_else(|| Problem::new(Kind::NotFound, "no such LangGraph checkpoint"))
}

/// Which checkpoints a search answers; every part is optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CheckpointSearchBody {
    /// One thread's; absent: every thread of the tenant.
    pub thread_id: Option<String>,
    pub checkpoint_ns: Option<String>,
    pub checkpoint_id: Option<String>,
    /// Metadata the checkpoint's must contain (JSON containment).
    pub metadata: Option<Value>,
    /// Only checkpoints whose id sorts before this one (older).
    pub before: Option<String>,
    /// At most this many (default and most: 100).
    pub limit: Option<i64>,
}

/// Checkpoints with their values and pending writes, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckpointTuplePage {
    pub checkpoints: Vec<CheckpointTuple>,
}

#[utoipa::path(
    post,
    operation_id = "langgraph_checkpoint_search",
    path = "/v1/langgraph/checkpoints/search",
    tag = "langgraph",
    summary = "The tenant's LangGraph checkpoints that match, newest first",
    request_body = CheckpointSearchBody,
    responses((status = 200, description = "One page of whole checkpoints, newest first", body = CheckpointTuplePage)),
    security(("api_key" = [])),
)]
pub async fn search(
    mut session: Session,
    Body(body): Body<CheckpointSearchBody>,
) -> Result<Json<CheckpointTuplePage>, Problem> {
    let search = CheckpointSearch {
        thread_id: body.thread_id,
        checkpoint_ns: body.checkpoint_ns,
        checkpoint_id: body.checkpoint_id,
        metadata: body.metadata,
        before: body.before,
        limit: body.limit.unwrap_or(LANGGRAPH_PAGE_MAX),
    };
    let checkpoints = langgraph_checkpoint_search(&mut session.tx, &search).await?;
    session.commit().await?;
    Ok(Json(CheckpointTuplePage { checkpoints }))
}

/// The checkpoints a change took or made.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckpointKeys {
    pub checkpoints: Vec<CheckpointKey>,
}

fn keys(changed: Changed<Vec<CheckpointKey>>) -> Changed<CheckpointKeys> {
    Changed {
        value: CheckpointKeys {
            checkpoints: changed.value,
        },
        events: changed.events,
    }
}

#[utoipa::path(
    delete,
    operation_id = "langgraph_thread_delete",
    path = "/v1/langgraph/threads/{thread}",
    tag = "langgraph",
    summary = "Delete a thread's checkpoints and writes; each deletion is recorded, the thread's run and history stay",
    params(("thread" = String, Path, description = "A LangGraph thread id")),
    responses((status = 200, description = "The checkpoints deleted", body = Changed<CheckpointKeys>)),
    security(("api_key" = [])),
)]
pub async fn thread_delete(
    mut session: Session,
    Path(thread): Path<String>,
) -> Moved<CheckpointKeys> {
    session.require(ApiScope::Runtime)?;
    let origin = LanggraphBy::default().origin(&session)?;
    let retention = Retention::ThreadDelete(thread);
    let deleted = langgraph_checkpoints_delete(&mut session.tx, &retention, &origin).await?;
    session.commit().await?;
    Ok(Json(keys(deleted)))
}

/// LangGraph runs (`metadata.run_id`) whose checkpoints go.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RunsDeleteBody {
    pub run_ids: Vec<String>,
    #[serde(flatten)]
    pub by: LanggraphBy,
}

#[utoipa::path(
    post,
    operation_id = "langgraph_runs_delete",
    path = "/v1/langgraph/runs/delete",
    tag = "langgraph",
    summary = "Delete the checkpoints of these LangGraph runs, in every thread",
    request_body = RunsDeleteBody,
    responses((status = 200, description = "The checkpoints deleted", body = Changed<CheckpointKeys>)),
    security(("api_key" = [])),
)]
pub async fn runs_delete(
    mut session: Session,
    Body(body): Body<RunsDeleteBody>,
) -> Moved<CheckpointKeys> {
    session.require(ApiScope::Runtime)?;
    let origin = body.by.origin(&session)?;
    let retention = Retention::RunsDelete(body.run_ids);
    let deleted = langgraph_checkpoints_delete(&mut session.tx, &retention, &origin).await?;
    session.commit().await?;
    Ok(Json(keys(deleted)))
}

/// Where a thread is copied to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ThreadCopyBody {
    pub target_thread_id: String,
    #[serde(flatten)]
    pub by: LanggraphBy,
}

#[utoipa::path(
    post,
    operation_id = "langgraph_thread_copy",
    path = "/v1/langgraph/threads/{thread}/copy",
    tag = "langgraph",
    summary = "Copy every checkpoint of the thread, with its values and writes, into another thread",
    params(("thread" = String, Path, description = "The LangGraph thread to copy")),
    request_body = ThreadCopyBody,
    responses((status = 200, description = "The checkpoints made in the target thread", body = Changed<CheckpointKeys>)),
    security(("api_key" = [])),
)]
pub async fn thread_copy(
    mut session: Session,
    Path(thread): Path<String>,
    Body(body): Body<ThreadCopyBody>,
) -> Moved<CheckpointKeys> {
    session.require(ApiScope::Runtime)?;
    let origin = body.by.origin(&session)?;
    let copied =
        langgraph_thread_copy(&mut session.tx, &thread, &body.target_thread_id, &origin).await?;
    session.commit().await?;
    Ok(Json(keys(copied)))
}

/// What a prune keeps of each thread.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PruneStrategy {
    /// The newest checkpoint of each namespace, with its writes.
    KeepLatest,
    /// Nothing.
    Delete,
}

/// Threads to prune, in one transaction.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ThreadPruneBody {
    pub thread_ids: Vec<String>,
    pub strategy: PruneStrategy,
    #[serde(flatten)]
    pub by: LanggraphBy,
}

/// The most threads one prune takes.
const PRUNE_THREADS_MAX: usize = 1000;

#[utoipa::path(
    post,
    operation_id = "langgraph_prune",
    path = "/v1/langgraph/prune",
    tag = "langgraph",
    summary = "Prune threads: keep the newest checkpoint of each namespace, or delete them all",
    request_body = ThreadPruneBody,
    responses((status = 200, description = "The checkpoints deleted", body = Changed<CheckpointKeys>)),
    security(("api_key" = [])),
)]
pub async fn prune(
    mut session: Session,
    Body(body): Body<ThreadPruneBody>,
) -> Moved<CheckpointKeys> {
    session.require(ApiScope::Runtime)?;
    if body.thread_ids.len() > PRUNE_THREADS_MAX {
        return Err(Problem::new(
            Kind::InvalidInput,
            format!("at most {PRUNE_THREADS_MAX} threads a prune"),
        ));
    }
    let origin = body.by.origin(&session)?;
    let mut all = Changed {
        value: Vec::new(),
        events: Vec::new(),
    };
    for thread in body.thread_ids {
        let retention = match body.strategy {
            PruneStrategy::KeepLatest => Retention::KeepLatest(thread),
            PruneStrategy::Delete => Retention::ThreadDelete(thread),
        };
        let deleted = langgraph_checkpoints_delete(&mut session.tx, &retention, &origin).await?;
        all.value.extend(deleted.value);
        all.events.extend(deleted.events);
    }
    session.commit().await?;
    Ok(Json(keys(all)))
}
