//! Effects and where they go: requesting one (through the outbox, never
//! inline), reading where it stands, the tenant's destinations, and the
//! operator's view of the outbox.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use pplane_domain::{ApiScope, EffectId, OutboxId, OutboxStatus, RunId, StepId};
use pplane_store::operations::delivery::{
    delivery_requeue, outbox_purge_tenant, Settled, PURGE_CHUNK,
};
use pplane_store::operations::destinations::{
    destination_create, destination_list, Created, Destination, Target,
};
use pplane_store::operations::effects::{effect_request, EffectInput, Requested};
use pplane_store::operations::Changed;
use pplane_store::queries::diagnose::{
    diagnose_effect, diagnose_run, EffectDiagnosis, RunDiagnosis,
};
use pplane_store::queries::outbox::{outbox_entries, outbox_stats, OutboxEntry, OutboxStats};
use pplane_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{field, By, Moved};
use crate::body::{Body, BodyOrDefault, Params};
use crate::problem::{Kind, Problem};
use crate::session::Session;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EffectBody {
    pub effect_type: String,
    /// Unique in the tenant: the same key and request again returns the
    /// first effect; the same key with another request is a conflict.
    pub idempotency_key: String,
    /// A JSON object; `destination` names where it goes.
    #[serde(default)]
    pub spec: serde_json::Map<String, Value>,
    /// Shorthand for the spec's `destination`.
    pub destination: Option<String>,
    /// The step that asks for it, if any.
    pub step_id: Option<String>,
    #[serde(flatten)]
    pub by: By,
}

#[utoipa::path(
    post,
    operation_id = "effect_request",
    path = "/v1/runs/{run}/effects",
    tag = "effects",
    summary = "Request an external effect through the outbox, idempotently",
    params(("run" = RunId, Path, description = "A run id")),
    request_body = EffectBody,
    responses((status = 201, description = "Request an external effect through the outbox, idempotently", body = Changed<Requested>)),
    security(("api_key" = [])),
)]
pub async fn request(
    mut session: Session,
    Path(run): Path<String>,
    Body(body): Body<EffectBody>,
) -> Result<(StatusCode, Json<Changed<Requested>>), Problem> {
    session.require(ApiScope::Runtime)?;
    let run: RunId = field("run id", &run)?;
    let step = body
        .step_id
        .as_deref()
        .map(|s| field::<StepId>("step_id", s))
        .transpose()?;
    let mut spec = body.spec;
    if let Some(name) = body.destination {
        spec.insert("destination".into(), Value::String(name));
    }
    let input = EffectInput {
        run,
        step,
        effect_type: body.effect_type,
        idempotency_key: body.idempotency_key,
        spec: Value::Object(spec),
    };
    let by = body.by.origin(&session)?;
    let requested = effect_request(&mut session.tx, &input, &by).await?;
    session.commit().await?;
    let status = if requested.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(requested)))
}

#[utoipa::path(
    get,
    operation_id = "effect_get",
    path = "/v1/effects/{effect}",
    tag = "effects",
    summary = "Where an effect stands: its outbox entry and its events",
    params(("effect" = EffectId, Path, description = "An effect id")),
    responses((status = 200, description = "Where an effect stands: its outbox entry and its events", body = EffectDiagnosis)),
    security(("api_key" = [])),
)]
/// The effect, its outbox entry and its events: where it stands.
pub async fn show(
    mut session: Session,
    Path(effect): Path<String>,
) -> Result<Json<EffectDiagnosis>, Problem> {
    let effect: EffectId = field("effect id", &effect)?;
    let found = diagnose_effect(&mut session.tx, effect).await?;
    session.commit().await?;
    found.map(Json).ok_or_else(|| {
        Problem::new(
            Kind::NotFound,
            format!("effect {effect} not found in this tenant"),
        )
    })
}

#[utoipa::path(
    get,
    operation_id = "run_diagnose",
    path = "/v1/runs/{run}/diagnosis",
    tag = "runs",
    summary = "Why a run failed",
    params(("run" = RunId, Path, description = "A run id")),
    responses((status = 200, description = "Why a run failed", body = RunDiagnosis)),
    security(("api_key" = [])),
)]
/// Why a run failed: its troubled steps, their failures and tool calls.
pub async fn run_diagnosis(
    mut session: Session,
    Path(run): Path<String>,
) -> Result<Json<RunDiagnosis>, Problem> {
    let run: RunId = field("run id", &run)?;
    let found = diagnose_run(&mut session.tx, run).await?;
    session.commit().await?;
    found.map(Json).ok_or_else(|| {
        Problem::new(
            Kind::NotFound,
            format!("run {run} not found in this tenant"),
        )
    })
}

/// Exactly one of `webhook` (an http(s) URL) or `nats` (a JetStream subject).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DestinationBody {
    pub name: String,
    pub webhook: Option<String>,
    pub nats: Option<String>,
}

#[utoipa::path(
    post,
    operation_id = "destination_add",
    path = "/v1/destinations",
    tag = "destinations",
    summary = "Add a destination (operator); a webhook's signing secret is shown only here",
    request_body = DestinationBody,
    responses((status = 201, description = "Add a destination (operator); a webhook's signing secret is shown only here", body = Created)),
    security(("api_key" = [])),
)]
/// A destination; a webhook's signing secret is in this answer only.
pub async fn destination_add(
    mut session: Session,
    Body(body): Body<DestinationBody>,
) -> Result<(StatusCode, Json<Created>), Problem> {
    session.require(ApiScope::Operator)?;
    let target = match (body.webhook, body.nats) {
        (Some(url), None) => Target::Webhook(url),
        (None, Some(subject)) => Target::Nats(subject),
        _ => {
            return Err(Problem::new(
                Kind::InvalidInput,
                "webhook or nats: send exactly one",
            ))
        }
    };
    let created = destination_create(&mut session.tx, &body.name, &target).await?;
    session.commit().await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    get,
    operation_id = "destination_list",
    path = "/v1/destinations",
    tag = "destinations",
    summary = "The tenant's destinations",
    responses((status = 200, description = "The tenant's destinations", body = Destinations)),
    security(("api_key" = [])),
)]
pub async fn destinations(mut session: Session) -> Result<Json<Destinations>, Problem> {
    let destinations = destination_list(&mut session.tx).await?;
    session.commit().await?;
    Ok(Json(Destinations { destinations }))
}

/// The tenant's destinations, by name.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Destinations {
    pub destinations: Vec<Destination>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    pub status: Option<String>,
    pub limit: Option<i64>,
}

#[utoipa::path(
    get,
    operation_id = "outbox_list",
    path = "/v1/outbox",
    tag = "outbox",
    summary = "The tenant's outbox entries, newest first (operator)",
    params(OutboxQuery),
    responses((status = 200, description = "The tenant's outbox entries, newest first (operator)", body = Vec<OutboxEntry>)),
    security(("api_key" = [])),
)]
/// The tenant's outbox entries, newest first.
pub async fn outbox(
    mut session: Session,
    Params(q): Params<OutboxQuery>,
) -> Result<Json<Vec<OutboxEntry>>, Problem> {
    session.require(ApiScope::Operator)?;
    let status = q
        .status
        .as_deref()
        .map(|s| field::<OutboxStatus>("status", s))
        .transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(Problem::new(Kind::InvalidInput, "limit must be 1 to 1000"));
    }
    let entries = outbox_entries(&mut session.tx, status, limit).await?;
    session.commit().await?;
    Ok(Json(entries))
}

#[utoipa::path(
    get,
    operation_id = "outbox_stats",
    path = "/v1/outbox/stats",
    tag = "outbox",
    summary = "The tenant's outbox depth (operator)",
    responses((status = 200, description = "The tenant's outbox depth (operator)", body = OutboxStats)),
    security(("api_key" = [])),
)]
pub async fn stats(mut session: Session) -> Result<Json<OutboxStats>, Problem> {
    session.require(ApiScope::Operator)?;
    let stats = outbox_stats(&mut session.tx).await?;
    session.commit().await?;
    Ok(Json(stats))
}

#[utoipa::path(
    post,
    operation_id = "outbox_requeue",
    path = "/v1/outbox/{entry}/requeue",
    tag = "outbox",
    summary = "Requeue a dead letter (operator)",
    params(("entry" = OutboxId, Path, description = "An outbox entry id")),
    request_body = Option<By>,
    responses((status = 200, description = "Requeue a dead letter (operator)", body = Changed<Settled>)),
    security(("api_key" = [])),
)]
/// The walkthrough's requeue of a dead letter.
pub async fn requeue(
    mut session: Session,
    Path(entry): Path<String>,
    BodyOrDefault(by): BodyOrDefault<By>,
) -> Moved<Settled> {
    session.require(ApiScope::Operator)?;
    let entry: OutboxId = field("outbox entry id", &entry)?;
    let by = by.origin(&session)?;
    let requeued = delivery_requeue(&mut session.tx, entry, &by).await?;
    session.commit().await?;
    Ok(Json(requeued))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PurgeBody {
    /// Entries delivered before this instant (RFC 3339) go.
    pub delivered_before: DateTime<Utc>,
}

/// What a purge deleted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Purged {
    pub purged: u64,
    pub delivered_before: DateTime<Utc>,
}

#[utoipa::path(
    post,
    operation_id = "outbox_purge",
    path = "/v1/outbox/purge",
    tag = "outbox",
    summary = "Delete the tenant's entries delivered before an instant (operator); dead letters and events stay",
    request_body = PurgeBody,
    responses((status = 200, description = "Delete the tenant's entries delivered before an instant (operator); dead letters and events stay", body = Purged)),
    security(("api_key" = [])),
)]
/// Retention for one tenant, a bounded chunk per transaction.
pub async fn purge(
    mut session: Session,
    State(store): State<Store>,
    Body(body): Body<PurgeBody>,
) -> Result<Json<Purged>, Problem> {
    session.require(ApiScope::Operator)?;
    let before = body.delivered_before;
    let (tenant, user) = (session.tx.tenant(), session.user());
    let mut done = outbox_purge_tenant(&mut session.tx, before).await?;
    session.commit().await?;
    let mut purged = done;
    while done == PURGE_CHUNK as u64 {
        let mut tx = store.tenant_tx(tenant, user).await?;
        done = outbox_purge_tenant(&mut tx, before).await?;
        tx.commit().await?;
        purged += done;
    }
    Ok(Json(Purged {
        purged,
        delivered_before: before,
    }))
}
