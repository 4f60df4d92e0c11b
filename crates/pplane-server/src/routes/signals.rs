//! `POST /v1/signals`: a signal arrives and starts a run. Idempotent on the
//! source id, which the `Idempotency-Key` header may give instead of the
//! body: a retry returns the original signal, correlation and run with
//! `duplicate: true` (200, not 201) and appends nothing.

use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use pplane_domain::{Actor, ApiScope};
use pplane_store::operations::ingest::{signal_ingest, Ingested, SignalInput};
use pplane_store::operations::Changed;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::field;
use crate::body::Body;
use crate::problem::{Kind, Problem};
use crate::session::Session;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignalBody {
    pub channel: String,
    /// The source's own id for this signal; or send `Idempotency-Key`.
    pub source_id: Option<String>,
    #[serde(default)]
    pub payload: Value,
    /// Stable ids of the domain entities the run works on.
    #[serde(default)]
    pub domain_refs: Map<String, Value>,
    /// Who sent it (default `external:<channel>`).
    pub actor: Option<String>,
}

#[utoipa::path(
    post,
    operation_id = "signal_ingest",
    path = "/v1/signals",
    tag = "signals",
    summary = "Ingest a signal, idempotently; it starts a run (200 with duplicate: true on a retry)",
    request_body = SignalBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "The signal's source id when the body has no `source_id`: a retry with the same key returns the first signal")),
    responses(
        (status = 201, description = "Ingest a signal, idempotently; it starts a run (200 with duplicate: true on a retry)", body = Changed<Ingested>),
        (status = 200, description = "A retry of a signal already ingested: the first one's ids, `duplicate: true`, no events", body = Changed<Ingested>),
    ),
    security(("api_key" = [])),
)]
pub async fn ingest(
    mut session: Session,
    headers: HeaderMap,
    Body(body): Body<SignalBody>,
) -> Result<(StatusCode, Json<Changed<Ingested>>), Problem> {
    session.require(ApiScope::Runtime)?;
    let header = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| Problem::new(Kind::InvalidInput, "Idempotency-Key must be text"))?
                .to_owned(),
        ),
        None => None,
    };
    let source_id = match (body.source_id, header) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::new(
                Kind::InvalidInput,
                "source_id and the Idempotency-Key header differ: send one, or the same",
            ))
        }
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => {
            return Err(Problem::new(
                Kind::InvalidInput,
                "source_id: send the source's id for this signal, or an Idempotency-Key header",
            ))
        }
    };
    let actor = match &body.actor {
        Some(text) => field::<Actor>("actor", text)?,
        None => field::<Actor>("channel", &format!("external:{}", body.channel))?,
    };
    let input = SignalInput {
        channel: body.channel,
        source_id,
        payload: body.payload,
        domain_refs: Value::Object(body.domain_refs),
        actor,
    };
    let ingested = signal_ingest(&mut session.tx, &input).await?;
    session.commit().await?;
    let status = if ingested.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(ingested)))
}
