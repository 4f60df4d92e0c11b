//! A step's lifecycle, and the tool calls it makes.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use pplane_domain::{ApiScope, RetryPolicy, StepId, ToolCallId};
use pplane_store::operations::steps::{step_move, StepMove};
use pplane_store::operations::tool_calls::{
    tool_call_finish as finish, tool_call_start as start_call,
};
use pplane_store::operations::Changed;
use pplane_store::queries::runs::{Step, ToolCall};
use serde::Deserialize;
use serde_json::Value;

use super::{field, By, FailBody, Moved, ReasonBody};
use crate::body::{Body, BodyOrDefault};
use crate::problem::{Kind, Problem};
use crate::session::Session;

async fn apply(mut session: Session, step: &str, how: StepMove, by: By) -> Moved<Step> {
    session.require(ApiScope::Runtime)?;
    let step: StepId = field("step id", step)?;
    let by = by.origin(&session)?;
    let moved = step_move(&mut session.tx, step, &how, &by).await?;
    session.commit().await?;
    Ok(Json(moved))
}

#[utoipa::path(
    post,
    operation_id = "step_start",
    path = "/v1/steps/{step}/start",
    tag = "steps",
    summary = "Start a step",
    params(("step" = StepId, Path, description = "A step id")),
    request_body = Option<By>,
    responses((status = 200, description = "Start a step", body = Changed<Step>)),
    security(("api_key" = [])),
)]
pub async fn start(
    session: Session,
    Path(step): Path<String>,
    BodyOrDefault(by): BodyOrDefault<By>,
) -> Moved<Step> {
    apply(session, &step, StepMove::Start, by).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CompleteBody {
    pub output: Option<Value>,
    #[serde(flatten)]
    pub by: By,
}

#[utoipa::path(
    post,
    operation_id = "step_complete",
    path = "/v1/steps/{step}/complete",
    tag = "steps",
    summary = "Complete a step, with its output",
    params(("step" = StepId, Path, description = "A step id")),
    request_body = Option<CompleteBody>,
    responses((status = 200, description = "Complete a step, with its output", body = Changed<Step>)),
    security(("api_key" = [])),
)]
pub async fn complete(
    session: Session,
    Path(step): Path<String>,
    BodyOrDefault(body): BodyOrDefault<CompleteBody>,
) -> Moved<Step> {
    let how = StepMove::Complete {
        output: body.output,
    };
    apply(session, &step, how, body.by).await
}

#[utoipa::path(
    post,
    operation_id = "step_fail",
    path = "/v1/steps/{step}/fail",
    tag = "steps",
    summary = "Fail a step",
    params(("step" = StepId, Path, description = "A step id")),
    request_body = FailBody,
    responses((status = 200, description = "Fail a step", body = Changed<Step>)),
    security(("api_key" = [])),
)]
pub async fn fail(
    session: Session,
    Path(step): Path<String>,
    Body(body): Body<FailBody>,
) -> Moved<Step> {
    apply(
        session,
        &step,
        StepMove::Fail { error: body.error },
        body.by,
    )
    .await
}

/// A retry's policy; the defaults are the plane's.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RetryBody {
    pub max_retries: Option<u32>,
    pub base_delay_ms: Option<u64>,
    pub max_delay_ms: Option<u64>,
    #[serde(flatten)]
    pub by: By,
}

#[utoipa::path(
    post,
    operation_id = "step_retry",
    path = "/v1/steps/{step}/retry",
    tag = "steps",
    summary = "Schedule a failed step's retry",
    params(("step" = StepId, Path, description = "A step id")),
    request_body = Option<RetryBody>,
    responses((status = 200, description = "Schedule a failed step's retry", body = Changed<Step>)),
    security(("api_key" = [])),
)]
pub async fn retry(
    session: Session,
    Path(step): Path<String>,
    BodyOrDefault(body): BodyOrDefault<RetryBody>,
) -> Moved<Step> {
    let d = RetryPolicy::default();
    let policy = RetryPolicy {
        max_retries: body.max_retries.unwrap_or(d.max_retries),
        base_delay_ms: body.base_delay_ms.unwrap_or(d.base_delay_ms),
        max_delay_ms: body.max_delay_ms.unwrap_or(d.max_delay_ms),
    };
    apply(session, &step, StepMove::Retry { policy }, body.by).await
}

#[utoipa::path(
    post,
    operation_id = "step_skip",
    path = "/v1/steps/{step}/skip",
    tag = "steps",
    summary = "Skip a step",
    params(("step" = StepId, Path, description = "A step id")),
    request_body = ReasonBody,
    responses((status = 200, description = "Skip a step", body = Changed<Step>)),
    security(("api_key" = [])),
)]
pub async fn skip(
    session: Session,
    Path(step): Path<String>,
    Body(body): Body<ReasonBody>,
) -> Moved<Step> {
    apply(
        session,
        &step,
        StepMove::Skip {
            reason: body.reason,
        },
        body.by,
    )
    .await
}

#[utoipa::path(
    post,
    operation_id = "step_cancel",
    path = "/v1/steps/{step}/cancel",
    tag = "steps",
    summary = "Cancel a step",
    params(("step" = StepId, Path, description = "A step id")),
    request_body = ReasonBody,
    responses((status = 200, description = "Cancel a step", body = Changed<Step>)),
    security(("api_key" = [])),
)]
pub async fn cancel(
    session: Session,
    Path(step): Path<String>,
    Body(body): Body<ReasonBody>,
) -> Moved<Step> {
    apply(
        session,
        &step,
        StepMove::Cancel {
            reason: body.reason,
        },
        body.by,
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ToolCallBody {
    pub tool_name: String,
    #[serde(default)]
    pub args: Value,
    #[serde(flatten)]
    pub by: By,
}

#[utoipa::path(
    post,
    operation_id = "tool_call_start",
    path = "/v1/steps/{step}/tool-calls",
    tag = "tool-calls",
    summary = "Start a tool call of a running step",
    params(("step" = StepId, Path, description = "A step id")),
    request_body = ToolCallBody,
    responses((status = 201, description = "Start a tool call of a running step", body = Changed<ToolCall>)),
    security(("api_key" = [])),
)]
pub async fn tool_call_start(
    mut session: Session,
    Path(step): Path<String>,
    Body(body): Body<ToolCallBody>,
) -> Result<(StatusCode, Json<Changed<ToolCall>>), Problem> {
    session.require(ApiScope::Runtime)?;
    let step: StepId = field("step id", &step)?;
    let by = body.by.origin(&session)?;
    let args = if body.args.is_null() {
        Value::Object(Default::default())
    } else {
        body.args
    };
    let started = start_call(&mut session.tx, step, &body.tool_name, &args, &by).await?;
    session.commit().await?;
    Ok((StatusCode::CREATED, Json(started)))
}

/// Exactly one of `result` (it succeeded) or `error` (it failed).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ToolCallFinishBody {
    pub result: Option<Value>,
    pub error: Option<Value>,
    #[serde(flatten)]
    pub by: By,
}

#[utoipa::path(
    post,
    operation_id = "tool_call_finish",
    path = "/v1/tool-calls/{call}/finish",
    tag = "tool-calls",
    summary = "Finish a tool call with its result or its error",
    params(("call" = ToolCallId, Path, description = "A tool call id")),
    request_body = ToolCallFinishBody,
    responses((status = 200, description = "Finish a tool call with its result or its error", body = Changed<ToolCall>)),
    security(("api_key" = [])),
)]
pub async fn tool_call_finish(
    mut session: Session,
    Path(call): Path<String>,
    Body(body): Body<ToolCallFinishBody>,
) -> Moved<ToolCall> {
    session.require(ApiScope::Runtime)?;
    let call: ToolCallId = field("tool call id", &call)?;
    let outcome = match (&body.result, &body.error) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => Err(error),
        _ => {
            return Err(Problem::new(
                Kind::InvalidInput,
                "result or error: send exactly one",
            ))
        }
    };
    let by = body.by.origin(&session)?;
    let finished = finish(&mut session.tx, call, outcome, &by).await?;
    session.commit().await?;
    Ok(Json(finished))
}
