//! What the outbox worker records: a dispatch when it claims an entry, and
//! the outcome of each attempt. Each moves the effect through its state
//! machine and appends its EFFECT_* event in the same transaction as the
//! outbox entry's change, caused by the request's EFFECT_REQUESTED event.

use chrono::{DateTime, Utc};
use pplane_domain::delivery::{Attempt, Verdict};
use pplane_domain::{
    EffectId, EffectStatus, EventId, EventType, Lifecycle, OutboxId, OutboxStatus,
};
use serde_json::{json, Value};

use super::{applied, not_found, record_move, Move, Origin};
use crate::repositories::effects::{effect_fetch, effect_update_status, Effect};
use crate::repositories::outbox::{
    outbox_fetch, outbox_purge_chunk, outbox_requeue, outbox_settle, Claimed, OutboxEntry,
    Settlement,
};
use crate::{Result, StoreError, TenantTx};

/// Failed attempts an entry remembers in `error_details.history`.
pub const ERROR_HISTORY_MAX: usize = 10;

/// The origin of the worker's records: the delivery service, caused by the
/// request's event.
fn origin_of(entry: &Claimed, actor: &pplane_domain::Actor) -> Origin {
    Origin {
        actor: actor.clone(),
        caused_by: entry.causation_id.map(EventId::from_uuid),
        expected_version: None,
    }
}

/// Records that `entry`'s effect is being delivered: RUNNING and
/// EFFECT_DISPATCHED. A re-dispatch (the previous attempt's lease ran out)
/// records the event again and leaves the status RUNNING. Returns the
/// effect's status when it may not be delivered (cancelled, completed).
pub async fn effect_dispatch(
    tx: &mut TenantTx,
    entry: &Claimed,
    actor: &pplane_domain::Actor,
) -> Result<std::result::Result<Effect, EffectStatus>> {
    let effect = current(tx, entry).await?;
    let status: EffectStatus = effect.status.parse()?;
    if status != EffectStatus::Running && status.check(EffectStatus::Running).is_err() {
        return Ok(Err(status));
    }
    let origin = origin_of(entry, actor);
    let data = json!({
        "outbox_id": entry.id, "attempt": entry.attempt, "worker": entry.lease_owner,
        "redispatch": status == EffectStatus::Running,
    });
    let change = record_move(
        tx,
        &origin,
        movement(
            &effect,
            EffectStatus::Running,
            EventType::EffectDispatched,
            data,
        ),
    )
    .await?;
    let id = EffectId::from_uuid(effect.id);
    let tenant = tx.tenant();
    let moved = effect_update_status(tx.conn(), tenant, id, &change).await?;
    Ok(Ok(applied(moved, "effect", effect.id, effect.version)?))
}

/// The outcome of one attempt, as recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settled {
    pub entry: OutboxEntry,
    pub effect: Effect,
}

/// Records how attempt `entry.attempt` went. None when the attempt is stale
/// (its lease ran out and the entry was claimed again): nothing is written.
pub async fn delivery_settle(
    tx: &mut TenantTx,
    entry: &Claimed,
    attempt: &Attempt,
    verdict: &Verdict,
    actor: &pplane_domain::Actor,
) -> Result<Option<Settled>> {
    let now = Utc::now();
    let (status, next_retry_at) = match verdict {
        Verdict::Delivered => (OutboxStatus::Delivered, None),
        Verdict::RetryIn(delay) => (
            OutboxStatus::Pending,
            Some(now + chrono::Duration::from_std(*delay).unwrap_or(chrono::Duration::MAX)),
        ),
        Verdict::DeadLetter => (OutboxStatus::DeadLetter, None),
    };
    let failed = !matches!(verdict, Verdict::Delivered);
    let settlement = Settlement {
        status,
        retry_count: entry.retry_count + i32::from(failed),
        next_retry_at,
        error_details: if failed {
            Some(error_history(entry, attempt, now))
        } else {
            entry.error_details.clone()
        },
    };
    let tenant = tx.tenant();
    let Some(settled) = outbox_settle(
        tx.conn(),
        tenant,
        entry.id,
        entry.attempt,
        &entry.lease_owner,
        &settlement,
    )
    .await?
    else {
        return Ok(None);
    };

    let effect = current(tx, entry).await?;
    let from: EffectStatus = effect.status.parse()?;
    if from.is_terminal() {
        // The effect ended some other way (cancelled, or completed by an
        // earlier attempt): the entry is closed and the effect keeps its end.
        return Ok(Some(Settled {
            entry: settled,
            effect,
        }));
    }
    let (to, event) = match verdict {
        Verdict::Delivered => (EffectStatus::Completed, EventType::EffectSucceeded),
        Verdict::RetryIn(_) => (EffectStatus::Failed, EventType::EffectFailed),
        Verdict::DeadLetter => (EffectStatus::DeadLetter, EventType::EffectDeadLettered),
    };
    from.check(to)?;
    let data = json!({
        "outbox_id": entry.id, "attempt": entry.attempt, "outcome": attempt.kind(),
        "detail": attempt.message(), "next_retry_at": next_retry_at,
    });
    let result = json!({ "attempt": entry.attempt, "detail": attempt.message(), "at": now });
    let origin = origin_of(entry, actor);
    let mut m = movement(&effect, to, event, data);
    m.next_retry_at = next_retry_at;
    if failed {
        m.error = Some(&result);
    } else {
        m.output = Some(&result);
    }
    let change = record_move(tx, &origin, m).await?;
    let id = EffectId::from_uuid(effect.id);
    let moved = effect_update_status(tx.conn(), tenant, id, &change).await?;
    Ok(Some(Settled {
        entry: settled,
        effect: applied(moved, "effect", effect.id, effect.version)?,
    }))
}

async fn current(tx: &mut TenantTx, entry: &Claimed) -> Result<Effect> {
    let tenant = tx.tenant();
    effect_fetch(tx.conn(), tenant, EffectId::from_uuid(entry.effect_id))
        .await?
        .ok_or_else(|| not_found("effect", entry.effect_id))
}

fn movement<'a>(effect: &Effect, to: EffectStatus, event: EventType, data: Value) -> Move<'a> {
    Move {
        entity: "effect",
        id: effect.id,
        version: effect.version,
        correlation: effect.correlation_id,
        to: to.as_str(),
        event,
        data,
        output: None,
        error: None,
        next_retry_at: None,
    }
}

/// The entry's error details with this failure added: the last failure in
/// full, and the most recent [`ERROR_HISTORY_MAX`] in `history`.
fn error_history(entry: &Claimed, attempt: &Attempt, at: DateTime<Utc>) -> Value {
    let this = json!({
        "attempt": entry.attempt, "at": at, "kind": attempt.kind(), "message": attempt.message(),
    });
    let mut history: Vec<Value> = entry
        .error_details
        .as_ref()
        .and_then(|d| d.get("history"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    history.push(this.clone());
    let skip = history.len().saturating_sub(ERROR_HISTORY_MAX);
    json!({ "last": this, "history": history.split_off(skip) })
}

/// The walkthrough's requeue: a dead letter goes back to PENDING, due now,
/// with its attempts reset; its effect goes back to PENDING with
/// EFFECT_REQUEUED, whose actor is the operator. Only a dead letter can be
/// requeued.
pub async fn delivery_requeue(tx: &mut TenantTx, id: OutboxId, origin: &Origin) -> Result<Settled> {
    let tenant = tx.tenant();
    let entry = outbox_fetch(tx.conn(), tenant, id)
        .await?
        .ok_or_else(|| not_found("outbox entry", id))?;
    if entry.status != OutboxStatus::DeadLetter.as_str() {
        return Err(StoreError::InvalidInput(format!(
            "outbox entry {id} is {}: only a DEAD_LETTER entry can be requeued",
            entry.status
        )));
    }
    let effect = effect_fetch(tx.conn(), tenant, EffectId::from_uuid(entry.effect_id))
        .await?
        .ok_or_else(|| not_found("effect", entry.effect_id))?;
    let from: EffectStatus = effect.status.parse()?;
    from.check(EffectStatus::Pending)?;
    let data = json!({
        "outbox_id": id, "attempts_before": entry.attempt, "last_error": entry.error_details
            .as_ref().and_then(|d| d.get("last")),
    });
    let change = record_move(
        tx,
        origin,
        movement(
            &effect,
            EffectStatus::Pending,
            EventType::EffectRequeued,
            data,
        ),
    )
    .await?;
    let moved =
        effect_update_status(tx.conn(), tenant, EffectId::from_uuid(effect.id), &change).await?;
    let effect = applied(moved, "effect", effect.id, effect.version)?;
    let entry = outbox_requeue(tx.conn(), tenant, id)
        .await?
        .ok_or_else(|| StoreError::VersionConflict {
            entity: "outbox entry",
            id: id.to_string(),
            expected: entry.attempt,
        })?;
    tx.wake_outbox();
    Ok(Settled { entry, effect })
}

/// Retention: deletes delivered entries older than `before` across the
/// plane, a chunk per transaction; returns how many went. Dead letters stay
/// until an operator acts, and the event log keeps every EFFECT_* event.
pub async fn outbox_purge(store: &crate::Store, before: DateTime<Utc>) -> Result<u64> {
    const CHUNK: i64 = 5_000;
    let mut total = 0;
    loop {
        let mut tx = store.dispatch_tx().await?;
        let done = outbox_purge_chunk(tx.conn(), before, CHUNK).await?;
        tx.commit().await?;
        total += done;
        if done < CHUNK as u64 {
            return Ok(total);
        }
    }
}
