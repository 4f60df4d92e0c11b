//! Signal ingestion: the start of every trace.
//!
//! Idempotent on (tenant, source_channel, source_id). A new signal gets a new
//! correlation id, its SIGNAL_RECEIVED (the root of the causation chain,
//! with no cause) and a run with RUN_CREATED, in one transaction. A duplicate
//! returns the original signal, correlation id and run, writes nothing, and
//! says `duplicate`; the same key with different content is a conflict.
//! Concurrent identical ingestions take turns on the source key (a
//! transaction-level advisory lock, as identical effect requests do), so
//! the later one finds the earlier's signal once it commits; ingestion
//! therefore runs in the caller's transaction like every other operation.

use pplane_domain::{Actor, CorrelationId, EventType, RunId, SignalId};
use serde::Serialize;
use serde_json::json;

use super::{check_text, record, Changed, Origin};
use crate::limits::{check_size, SIGNAL_PAYLOAD_MAX};
use crate::repositories::idempotency_lock;
use crate::repositories::runs::{run_insert, run_of_signal, NewRun};
use crate::repositories::signals::{
    signal_find_by_source, signal_insert, signal_payload_matches, NewSignal, Signal,
};
use crate::{Result, StoreError, TenantTx};

#[derive(Debug, Clone)]
pub struct SignalInput {
    pub channel: String,
    pub source_id: String,
    pub payload: serde_json::Value,
    /// Stable ids of the domain entities the run works on (rule 1).
    pub domain_refs: serde_json::Value,
    pub actor: Actor,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ingested {
    pub signal_id: SignalId,
    pub correlation_id: CorrelationId,
    pub run_id: RunId,
    pub duplicate: bool,
}

pub async fn signal_ingest(tx: &mut TenantTx, input: &SignalInput) -> Result<Changed<Ingested>> {
    check_text("source_channel", &input.channel, 100)?;
    check_text("source_id", &input.source_id, 255)?;
    check_size("payload", &input.payload, SIGNAL_PAYLOAD_MAX)?;
    if !input.domain_refs.is_object() {
        return Err(StoreError::InvalidInput(
            "domain_refs must be a JSON object".into(),
        ));
    }
    let tenant = tx.tenant();
    let source = format!("signal/{}/{}", input.channel, input.source_id);
    idempotency_lock(tx.conn(), tenant, &source).await?;
    if let Some(existing) =
        signal_find_by_source(tx.conn(), tenant, &input.channel, &input.source_id).await?
    {
        return duplicate_of(tx, existing, input).await;
    }
    let signal_id = SignalId::new();
    let run_id = RunId::new();
    let correlation = CorrelationId::new();
    let root = Origin::by(input.actor.clone());
    let received = record(
        tx,
        correlation,
        &root,
        None,
        EventType::SignalReceived,
        ("signal", signal_id.as_uuid(), 1),
        json!({ "source_channel": input.channel, "source_id": input.source_id,
                "payload_bytes": input.payload.to_string().len() }),
    )
    .await?;
    let signal = NewSignal {
        id: signal_id,
        channel: &input.channel,
        source_id: &input.source_id,
        payload: &input.payload,
        correlation,
        actor: &input.actor,
    };
    signal_insert(tx.conn(), tenant, &signal).await?;

    let run_event = record(
        tx,
        correlation,
        &root,
        Some(received.event_id),
        EventType::RunCreated,
        ("run", run_id.as_uuid(), 1),
        json!({ "signal_id": signal_id, "domain_refs": input.domain_refs }),
    )
    .await?;
    let run = NewRun {
        id: run_id,
        signal: signal_id,
        domain_refs: &input.domain_refs,
        correlation,
        causation: run_event.event_id,
        actor: &input.actor,
    };
    run_insert(tx.conn(), tenant, &run).await?;
    let ingested = Ingested {
        signal_id,
        correlation_id: correlation,
        run_id,
        duplicate: false,
    };
    Ok(Changed::new(ingested, vec![received, run_event]))
}

async fn duplicate_of(
    tx: &mut TenantTx,
    existing: Signal,
    input: &SignalInput,
) -> Result<Changed<Ingested>> {
    let signal_id = existing.id;
    let tenant = tx.tenant();
    if !signal_payload_matches(tx.conn(), tenant, signal_id, &input.payload).await? {
        return Err(StoreError::IdempotencyConflict {
            what: "signal source key",
            key: format!("{}/{}", input.channel, input.source_id),
        });
    }
    let run = run_of_signal(tx.conn(), tenant, signal_id)
        .await?
        .ok_or_else(|| super::not_found("run of signal", existing.id))?;
    let ingested = Ingested {
        signal_id,
        correlation_id: existing.correlation_id,
        run_id: run.id,
        duplicate: true,
    };
    Ok(Changed::new(ingested, Vec::new()))
}
