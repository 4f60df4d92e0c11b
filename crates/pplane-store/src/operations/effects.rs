//! Requesting an external effect: never performed inline. The effect row, its
//! outbox entry and EFFECT_REQUESTED are written in the caller's transaction;
//! the outbox worker delivers it later, to the destination the spec names.
//! The idempotency key is unique per tenant: asking again with the same key
//! and spec returns the existing effect and adds nothing; the same key with
//! another spec is a conflict. A request that would take its tenant over a
//! quota on pending effects is refused before anything is written.

use pplane_domain::text::preview;
use pplane_domain::{EffectId, EventType, OutboxId, RunId, StepId};
use serde::Serialize;
use serde_json::{json, Value};

use super::runs::still_open;
use super::{check_text, event_new, not_found, Changed, Origin, Recorded};
use crate::limits::{check_size, EFFECT_SPEC_MAX};
use crate::repositories::effects::{
    effect_fetch_comparing, effect_insert_recorded, effect_request_read, Effect, NewEffect,
};
use crate::repositories::idempotency_lock;
use crate::repositories::steps::step_fetch;
use crate::repositories::tenants;
pub use crate::repositories::tenants::TenantQuota;
use crate::{Quota, Result, StoreError, TenantTx};

#[derive(Debug, Clone)]
pub struct EffectInput {
    pub run: RunId,
    pub step: Option<StepId>,
    pub effect_type: String,
    pub idempotency_key: String,
    /// A JSON object; `idempotency_key` is added to it (or must match).
    pub spec: Value,
}

/// The effect a request asked for. A duplicate (the same key and request
/// again) returns the first request's effect and appends nothing.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Requested {
    pub effect: Effect,
    pub duplicate: bool,
}

pub async fn effect_request(
    tx: &mut TenantTx,
    input: &EffectInput,
    origin: &Origin,
) -> Result<Changed<Requested>> {
    check_text("effect_type", &input.effect_type, 100)?;
    check_text("idempotency_key", &input.idempotency_key, 255)?;
    let spec = spec_with_key(&input.spec, &input.idempotency_key)?;
    let spec_bytes = check_size("effect_spec", &spec, EFFECT_SPEC_MAX)? as i64;
    let tenant = tx.tenant();

    // Identical requests may race: each waits here for the one before it to
    // commit, then finds its effect below, so all of them return the one
    // effect instead of all but one failing on effects_idempotency_key.
    let key = format!("effect/{}", input.idempotency_key);
    idempotency_lock(tx.conn(), tenant, &key).await?;
    let destination = match spec.get("destination") {
        Some(Value::String(name)) => Some(name.as_str()),
        _ => None,
    };
    let read = effect_request_read(
        tx.conn(),
        tenant,
        &input.idempotency_key,
        destination,
        input.run,
    )
    .await?
    .ok_or_else(|| not_found("tenant", tenant))?;
    if let Some(existing) = read.existing {
        let (effect, same) = effect_fetch_comparing(
            tx.conn(),
            tenant,
            existing,
            input.run,
            &input.effect_type,
            &spec,
        )
        .await?
        .ok_or_else(|| not_found("effect", existing))?;
        if !same {
            return Err(StoreError::IdempotencyConflict {
                what: "effect idempotency key",
                key: input.idempotency_key.clone(),
            });
        }
        let requested = Requested {
            effect,
            duplicate: true,
        };
        return Ok(Changed::new(requested, Vec::new()));
    }

    quota_check(&read.quota, spec_bytes)?;
    let destination = match (destination, read.destination) {
        (Some(_), Some(id)) => id,
        (Some(name), None) => return Err(not_found("destination", name)),
        (None, _) => {
            return Err(StoreError::InvalidInput(
                "an effect names where it goes: a destination's name in the spec's \
                 \"destination\" (create one with `pplane destination add`)"
                    .into(),
            ))
        }
    };
    let run = read.run.ok_or_else(|| not_found("run", input.run))?;
    let run = still_open(run, "effects")?;
    let id = EffectId::new();
    let outbox_id = OutboxId::new();
    let correlation = run.correlation_id;
    let data = json!({
        "run_id": input.run, "step_id": input.step, "effect_type": input.effect_type,
        "idempotency_key": input.idempotency_key, "outbox_id": outbox_id,
    });
    // The request follows the step that asked for it, or the run.
    let hangs_from = match input.step {
        Some(step_id) => {
            let step = step_fetch(tx.conn(), tenant, step_id)
                .await?
                .ok_or_else(|| not_found("step", step_id))?;
            if step.run_id != input.run {
                return Err(StoreError::InvalidInput(format!(
                    "step {step_id} belongs to run {}, not to run {}",
                    step.run_id, input.run
                )));
            }
            step.causation_id
        }
        None => run.causation_id,
    };
    let event = event_new(
        tx,
        correlation,
        origin,
        hangs_from,
        EventType::EffectRequested,
        (id.as_uuid(), 1),
        data,
    )
    .await?;
    let new = NewEffect {
        id,
        outbox_id,
        run: input.run,
        step: input.step,
        effect_type: &input.effect_type,
        spec: &spec,
        spec_bytes,
        key: &input.idempotency_key,
        correlation,
        actor: &origin.actor,
        destination: Some(destination),
    };
    let (effect, sequence_number) = effect_insert_recorded(tx.conn(), tenant, &new, &event).await?;
    let recorded = Recorded {
        event_id: event.id,
        sequence_number,
    };
    let requested = Requested {
        effect,
        duplicate: false,
    };
    Ok(Changed::new(requested, vec![recorded]))
}

/// The spec as stored: an object that carries its idempotency key.
fn spec_with_key(spec: &Value, key: &str) -> Result<Value> {
    let Value::Object(map) = spec else {
        return Err(StoreError::InvalidInput(
            "effect spec must be a JSON object".into(),
        ));
    };
    match map.get("idempotency_key") {
        Some(Value::String(k)) if k == key => Ok(spec.clone()),
        Some(other) => Err(StoreError::InvalidInput(format!(
            "effect spec carries idempotency_key {} but the request says {}",
            preview(&other.to_string()),
            preview(key)
        ))),
        None => {
            let mut map = map.clone();
            map.insert("idempotency_key".into(), Value::String(key.to_owned()));
            Ok(Value::Object(map))
        }
    }
}

/// The tenant's quotas on pending effects, and what counts against them.
pub async fn tenant_quota_fetch(tx: &mut TenantTx) -> Result<TenantQuota> {
    let tenant = tx.tenant();
    tenants::tenant_quota_fetch(tx.conn(), tenant)
        .await?
        .ok_or_else(|| not_found("tenant", tenant))
}

/// Refuses a new effect that would take its tenant over a quota, before
/// anything is written. The counts are read without a lock: requests of one
/// tenant committing at the same moment may pass the quota by as many as
/// run at once, never by more. `spec_bytes` is the spec as jsonb text, as
/// the entry will keep it (migration 24).
fn quota_check(quota: &TenantQuota, spec_bytes: i64) -> Result<()> {
    let effects = quota.pending_effects + 1;
    if effects > quota.max_pending_effects {
        return Err(StoreError::QuotaExceeded {
            quota: Quota::PendingEffects,
            limit: quota.max_pending_effects,
            would_be: effects,
        });
    }
    let bytes = quota.pending_bytes + spec_bytes;
    if bytes > quota.max_pending_bytes {
        return Err(StoreError::QuotaExceeded {
            quota: Quota::PendingBytes,
            limit: quota.max_pending_bytes,
            would_be: bytes,
        });
    }
    Ok(())
}
