//! A run: its view, its lifecycle, its steps and checkpoints.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use pplane_domain::{ApiScope, RunId};
use pplane_store::operations::checkpoints::{
    checkpoint_list as list, checkpoint_load, checkpoint_save as save,
};
use pplane_store::operations::runs::{run_finish, run_start, RunOutcome};
use pplane_store::operations::steps::{step_add as add, StepInput};
use pplane_store::operations::Changed;
use pplane_store::queries::runs::{run_view, Checkpoint, Run, RunView, Step};
use serde::Deserialize;
use serde_json::Value;

use super::{field, By, FailBody, Moved, ReasonBody};
use crate::body::{Body, BodyOrDefault, Params};
use crate::problem::{Kind, Problem};
use crate::session::Session;

#[utoipa::path(
    get,
    operation_id = "run_get",
    path = "/v1/runs/{run}",
    tag = "runs",
    summary = "A run, its steps in order and its latest checkpoint",
    params(("run" = RunId, Path, description = "A run id")),
    responses((status = 200, description = "A run, its steps in order and its latest checkpoint", body = RunView)),
    security(("api_key" = [])),
)]
pub async fn show(mut session: Session, Path(run): Path<String>) -> Result<Json<RunView>, Problem> {
    let run: RunId = field("run id", &run)?;
    let view = run_view(&mut session.tx, run).await?;
    session.commit().await?;
    Ok(Json(view))
}

#[utoipa::path(
    post,
    operation_id = "run_start",
    path = "/v1/runs/{run}/start",
    tag = "runs",
    summary = "Start a run",
    params(("run" = RunId, Path, description = "A run id")),
    request_body = Option<By>,
    responses((status = 200, description = "Start a run", body = Changed<Run>)),
    security(("api_key" = [])),
)]
pub async fn start(
    mut session: Session,
    Path(run): Path<String>,
    BodyOrDefault(by): BodyOrDefault<By>,
) -> Moved<Run> {
    session.require(ApiScope::Runtime)?;
    let run: RunId = field("run id", &run)?;
    let by = by.origin(&session)?;
    let started = run_start(&mut session.tx, run, &by).await?;
    session.commit().await?;
    Ok(Json(started))
}

#[utoipa::path(
    post,
    operation_id = "run_complete",
    path = "/v1/runs/{run}/complete",
    tag = "runs",
    summary = "Complete a run (its steps and tool calls must have ended)",
    params(("run" = RunId, Path, description = "A run id")),
    request_body = Option<By>,
    responses((status = 200, description = "Complete a run (its steps and tool calls must have ended)", body = Changed<Run>)),
    security(("api_key" = [])),
)]
pub async fn complete(
    session: Session,
    Path(run): Path<String>,
    BodyOrDefault(by): BodyOrDefault<By>,
) -> Moved<Run> {
    finish(session, &run, RunOutcome::Completed, by).await
}

#[utoipa::path(
    post,
    operation_id = "run_fail",
    path = "/v1/runs/{run}/fail",
    tag = "runs",
    summary = "Fail a run; what is live under it is cancelled",
    params(("run" = RunId, Path, description = "A run id")),
    request_body = FailBody,
    responses((status = 200, description = "Fail a run; what is live under it is cancelled", body = Changed<Run>)),
    security(("api_key" = [])),
)]
pub async fn fail(
    session: Session,
    Path(run): Path<String>,
    Body(body): Body<FailBody>,
) -> Moved<Run> {
    finish(
        session,
        &run,
        RunOutcome::Failed { error: body.error },
        body.by,
    )
    .await
}

#[utoipa::path(
    post,
    operation_id = "run_cancel",
    path = "/v1/runs/{run}/cancel",
    tag = "runs",
    summary = "Cancel a run; what is live under it is cancelled",
    params(("run" = RunId, Path, description = "A run id")),
    request_body = ReasonBody,
    responses((status = 200, description = "Cancel a run; what is live under it is cancelled", body = Changed<Run>)),
    security(("api_key" = [])),
)]
pub async fn cancel(
    session: Session,
    Path(run): Path<String>,
    Body(body): Body<ReasonBody>,
) -> Moved<Run> {
    let outcome = RunOutcome::Cancelled {
        reason: body.reason,
    };
    finish(session, &run, outcome, body.by).await
}

async fn finish(mut session: Session, run: &str, outcome: RunOutcome, by: By) -> Moved<Run> {
    session.require(ApiScope::Runtime)?;
    let run: RunId = field("run id", run)?;
    let by = by.origin(&session)?;
    let ended = run_finish(&mut session.tx, run, &outcome, &by).await?;
    session.commit().await?;
    Ok(Json(ended))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StepBody {
    pub step_type: String,
    pub step_index: Option<i32>,
    pub input: Option<Value>,
    #[serde(flatten)]
    pub by: By,
}

#[utoipa::path(
    post,
    operation_id = "step_add",
    path = "/v1/runs/{run}/steps",
    tag = "steps",
    summary = "Add a step to a run",
    params(("run" = RunId, Path, description = "A run id")),
    request_body = StepBody,
    responses((status = 201, description = "Add a step to a run", body = Changed<Step>)),
    security(("api_key" = [])),
)]
pub async fn step_add(
    mut session: Session,
    Path(run): Path<String>,
    Body(body): Body<StepBody>,
) -> Result<(StatusCode, Json<Changed<Step>>), Problem> {
    session.require(ApiScope::Runtime)?;
    let run: RunId = field("run id", &run)?;
    let by = body.by.origin(&session)?;
    let input = StepInput {
        step_type: body.step_type,
        step_index: body.step_index,
        input: body.input,
    };
    let added = add(&mut session.tx, run, &input, &by).await?;
    session.commit().await?;
    Ok((StatusCode::CREATED, Json(added)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CheckpointBody {
    pub state: Value,
    pub last_step_index: Option<i32>,
    #[serde(flatten)]
    pub by: By,
}

#[utoipa::path(
    post,
    operation_id = "checkpoint_save",
    path = "/v1/runs/{run}/checkpoints",
    tag = "checkpoints",
    summary = "Save what a resume needs",
    params(("run" = RunId, Path, description = "A run id")),
    request_body = CheckpointBody,
    responses((status = 201, description = "Save what a resume needs", body = Changed<Checkpoint>)),
    security(("api_key" = [])),
)]
pub async fn checkpoint_save(
    mut session: Session,
    Path(run): Path<String>,
    Body(body): Body<CheckpointBody>,
) -> Result<(StatusCode, Json<Changed<Checkpoint>>), Problem> {
    session.require(ApiScope::Runtime)?;
    let run: RunId = field("run id", &run)?;
    let by = body.by.origin(&session)?;
    let saved = save(&mut session.tx, run, &body.state, body.last_step_index, &by).await?;
    session.commit().await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[utoipa::path(
    get,
    operation_id = "checkpoint_latest",
    path = "/v1/runs/{run}/checkpoints/latest",
    tag = "checkpoints",
    summary = "The run's latest checkpoint",
    params(("run" = RunId, Path, description = "A run id")),
    responses((status = 200, description = "The run's latest checkpoint", body = Checkpoint)),
    security(("api_key" = [])),
)]
pub async fn checkpoint_latest(
    mut session: Session,
    Path(run): Path<String>,
) -> Result<Json<Checkpoint>, Problem> {
    let run: RunId = field("run id", &run)?;
    let latest = checkpoint_load(&mut session.tx, run).await?;
    session.commit().await?;
    latest
        .map(Json)
        .ok_or_else(|| Problem::new(Kind::NotFound, format!("run {run} has no checkpoint")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckpointQuery {
    /// Only checkpoints saved before this position (the `event_sequence` of
    /// the last one an earlier page held); absent: from the newest.
    pub before: Option<i64>,
    /// At most this many (default 10, at most 50: each may hold 1 MiB).
    pub limit: Option<i64>,
}

/// A page of a run's checkpoints, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CheckpointPage {
    pub checkpoints: Vec<Checkpoint>,
    /// What to pass as `before` for the next page; absent on the last.
    pub next_before: Option<i64>,
}

#[utoipa::path(
    get,
    operation_id = "checkpoint_list",
    path = "/v1/runs/{run}/checkpoints",
    tag = "checkpoints",
    summary = "The run's checkpoints, newest first, in pages",
    params(("run" = RunId, Path, description = "A run id"), CheckpointQuery),
    responses((status = 200, description = "The run's checkpoints, newest first, in pages", body = CheckpointPage)),
    security(("api_key" = [])),
)]
pub async fn checkpoint_list(
    mut session: Session,
    Path(run): Path<String>,
    Params(q): Params<CheckpointQuery>,
) -> Result<Json<CheckpointPage>, Problem> {
    let run: RunId = field("run id", &run)?;
    let limit = q.limit.unwrap_or(10);
    let checkpoints = list(&mut session.tx, run, q.before, limit).await?;
    session.commit().await?;
    let next_before = if checkpoints.len() as i64 == limit {
        checkpoints.last().map(|c| c.event_sequence)
    } else {
        None
    };
    Ok(Json(CheckpointPage {
        checkpoints,
        next_before,
    }))
}
