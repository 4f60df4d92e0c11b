//! What the outbox worker records: a dispatch when it claims entries, and
//! the outcome of each attempt. Each moves the effect through its state
//! machine and appends its EFFECT_* event in the same transaction as the
//! outbox entry's change, hanging from the effect's previous event (a
//! dispatch from the request or the last outcome, an outcome from its
//! dispatch).
//!
//! A worker records a whole batch of one tenant at a time: one event append
//! (one head increment) and one UPDATE per table for the batch. The tenant's
//! head row is locked from the append to the commit, so the fewer statements
//! between them, the more batches of one tenant commit per second.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pplane_domain::delivery::{Attempt, Verdict};
use pplane_domain::{
    Actor, EffectId, EffectStatus, EventId, EventType, Lifecycle, OutboxId, OutboxStatus, TenantId,
};
use serde_json::{json, Value};

use super::{not_found, record_move, Changed, Move, Origin, Recorded};
use crate::error::Constraint;
use crate::repositories::effects::{
    effect_fetch, effects_fetch_many, effects_move_recorded, effects_update_status, Effect,
    EffectAt, EffectMove,
};
use crate::repositories::events::{NewEvent, PendingMove};
use crate::repositories::outbox::{
    outbox_fetch, outbox_purge_chunk, outbox_purge_tenant_chunk, outbox_requeue, outbox_settle,
    OutboxEntry, Settlement,
};
pub use crate::repositories::outbox::{ClaimSize, Claimed, Rotation};
use crate::repositories::tenants::tenant_pending_move;
use crate::{DispatchTx, Result, StoreError, TenantTx};

/// Failed attempts an entry remembers in `error_details.history`.
pub const ERROR_HISTORY_MAX: usize = 10;

/// The outcome of one attempt, as recorded.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settled {
    pub entry: OutboxEntry,
    pub effect: Effect,
}

/// What a dispatch recorded for one claimed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// The effect is RUNNING: its EFFECT_DISPATCHED (after the
    /// EFFECT_REQUEUED of an entry requeued by a bare UPDATE).
    Recorded(Recorded),
    /// The effect may not run any more (cancelled, completed): its status.
    /// Nothing was written for it.
    Refused(EffectStatus),
}

/// Claims up to `size.per_tenant` due entries from each of up to
/// `size.tenants` tenants for `owner`, for `lease_ms`: IN_FLIGHT, attempt +
/// 1, exclusive until the lease ends (`FOR UPDATE SKIP LOCKED`, so
/// concurrent claims never share an entry). The tenants are the next in
/// turn from `rotation`; advance it past those served
/// ([`Rotation::advance`]) before the next claim.
/// One server only; on Citus see [`outbox_due_tenants`].
pub async fn outbox_claim(
    dispatch: &mut DispatchTx,
    rotation: &Rotation,
    owner: &str,
    size: ClaimSize,
    lease_ms: i64,
) -> Result<Vec<Claimed>> {
    crate::repositories::outbox::outbox_claim(dispatch.conn(), rotation, owner, size, lease_ms)
        .await
}

/// On Citus, the first step of a claim: the tenants with due entries in
/// turn order from `rotation` (a read on every shard, one task each,
/// locking nothing).
///
/// Citus cannot lock rows in a statement that spans shards, nor let one
/// transaction touch a shard as the dispatcher and then as `pplane_app`
/// (it reaches each worker over one connection per role). So a claim there
/// is this read, then [`outbox_claim_in`] in a tenant transaction of the
/// delivery principal, which records the dispatch in the same commit.
pub async fn outbox_due_tenants(
    dispatch: &mut DispatchTx,
    rotation: &Rotation,
    limit: i64,
) -> Result<Vec<TenantId>> {
    crate::repositories::outbox::outbox_due_tenants(dispatch.conn(), rotation, limit).await
}

/// On Citus, the claim itself: up to `limit` due entries of the
/// transaction's tenant (one task, on the tenant's worker), as
/// [`outbox_claim`] claims them.
pub async fn outbox_claim_in(
    tx: &mut TenantTx,
    owner: &str,
    limit: i64,
    lease_ms: i64,
) -> Result<Vec<Claimed>> {
    let tenant = tx.tenant();
    crate::repositories::outbox::outbox_claim_tenant(tx.conn(), tenant, owner, limit, lease_ms)
        .await
}

/// Records that the effects of `entries` (all of this transaction's tenant)
/// are being delivered: RUNNING and EFFECT_DISPATCHED each. A re-dispatch
/// (the previous attempt's lease ran out) records the event again and
/// leaves the status RUNNING. One [`Dispatch`] per entry, in order.
pub async fn effects_dispatch(
    tx: &mut TenantTx,
    entries: &[Claimed],
    actor: &Actor,
) -> Result<Vec<Dispatch>> {
    let mut effects = effects_of(tx, entries.iter()).await?;
    // An entry put back to PENDING by the walkthrough's bare UPDATE leaves
    // its effect a dead letter: record the requeue the UPDATE did not.
    let by_hand: Vec<Change> = entries
        .iter()
        .filter(|e| effects[&e.effect_id].status == EffectStatus::DeadLetter)
        .map(|entry| Change {
            entry,
            effect: EffectAt::from(&effects[&entry.effect_id]),
            to: EffectStatus::Pending,
            event: EventType::EffectRequeued,
            data: json!({ "outbox_id": entry.id, "requeued": "at the outbox, by a direct UPDATE" }),
            result: None,
            next_retry_at: None,
        })
        .collect();
    let requeued = apply(tx, by_hand, actor, PendingMove::default()).await?;
    effects.extend(requeued.into_iter().map(|(id, (effect, _))| (id, effect)));
    let mut changes = Vec::new();
    for entry in entries {
        let effect = &effects[&entry.effect_id];
        let status = effect.status;
        if status != EffectStatus::Running && status.check(EffectStatus::Running).is_err() {
            continue;
        }
        let data = json!({
            "outbox_id": entry.id, "attempt": entry.attempt, "worker": entry.lease_owner,
            "redispatch": status == EffectStatus::Running,
        });
        changes.push(Change {
            entry,
            effect: EffectAt::from(effect),
            to: EffectStatus::Running,
            event: EventType::EffectDispatched,
            data,
            result: None,
            next_retry_at: None,
        });
    }
    let dispatched = apply(tx, changes, actor, PendingMove::default()).await?;
    Ok(entries
        .iter()
        .map(|entry| match dispatched.get(&entry.effect_id) {
            Some((_, recorded)) => Dispatch::Recorded(*recorded),
            None => Dispatch::Refused(effects[&entry.effect_id].status),
        })
        .collect())
}

/// Records how each attempt went, for entries of this transaction's tenant.
/// None for an attempt that is stale (its lease ran out and the entry was
/// claimed again): nothing is written for it.
pub async fn deliveries_settle(
    tx: &mut TenantTx,
    outcomes: &[(Claimed, Attempt, Verdict)],
    actor: &Actor,
) -> Result<Vec<Option<Changed<Settled>>>> {
    let now = Utc::now();
    let mut items = Vec::with_capacity(outcomes.len());
    for (entry, attempt, verdict) in outcomes {
        items.push((
            entry.id,
            entry.effect_id,
            entry.attempt,
            settlement(entry, attempt, verdict, now),
        ));
    }
    let Some(owner) = outcomes.first().map(|o| o.0.lease_owner.as_str()) else {
        return Ok(Vec::new());
    };
    if outcomes.iter().any(|o| o.0.lease_owner != owner) {
        return Err(StoreError::Internal(
            "the outcomes of one settlement must come from one worker".into(),
        ));
    }
    let tenant = tenant_of(tx, outcomes.iter().map(|o| &o.0))?;
    // Each settled entry comes with where its effect stood: an effect that
    // moves between that read and the move below is a version conflict there.
    let (settled, closed) = outbox_settle(tx.conn(), tenant, owner, &items).await?;
    let mut settled: HashMap<OutboxId, (OutboxEntry, EffectAt)> =
        settled.into_iter().map(|(e, at)| (e.id, (e, at))).collect();

    let mut changes = Vec::new();
    let mut unchanged = Vec::new();
    for ((entry, attempt, verdict), (_, _, _, s)) in outcomes.iter().zip(&items) {
        let Some(&(_, effect)) = settled.get(&entry.id) else {
            continue;
        };
        let from = effect.status;
        if from.is_terminal() {
            // The effect ended some other way (cancelled, or completed by an
            // earlier attempt): the entry is closed and the effect keeps its end.
            unchanged.push(entry.effect_id);
            continue;
        }
        let (to, event) = match verdict {
            Verdict::Delivered => (EffectStatus::Completed, EventType::EffectSucceeded),
            Verdict::RetryIn(_) => (EffectStatus::Failed, EventType::EffectFailed),
            Verdict::DeadLetter => (EffectStatus::DeadLetter, EventType::EffectDeadLettered),
        };
        from.check(to)?;
        let data = json!({
            "outbox_id": entry.id, "attempt": entry.attempt, "outcome": attempt.kind(),
            "detail": attempt.message(), "next_retry_at": s.next_retry_at,
        });
        changes.push(Change {
            entry,
            effect,
            to,
            event,
            data,
            result: Some(
                json!({ "attempt": entry.attempt, "detail": attempt.message(), "at": now }),
            ),
            next_retry_at: s.next_retry_at,
        });
    }
    // The closed entries leave the pending counts in the statement that
    // takes the head row: held from there to the commit only.
    let moved = apply(tx, changes, actor, closed).await?;
    // Effects that had ended already are read whole only now (seldom).
    let ended: HashMap<EffectId, Effect> = if unchanged.is_empty() {
        HashMap::new()
    } else {
        effects_fetch_many(tx.conn(), tenant, &unchanged)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect()
    };
    Ok(outcomes
        .iter()
        .map(|(entry, _, _)| {
            let (outbox, _) = settled.remove(&entry.id)?;
            let (effect, events) = match moved.get(&entry.effect_id) {
                Some((effect, recorded)) => (effect.clone(), vec![*recorded]),
                None => (ended.get(&entry.effect_id)?.clone(), Vec::new()),
            };
            let settled = Settled {
                entry: outbox,
                effect,
            };
            Some(Changed::new(settled, events))
        })
        .collect())
}

/// One entry's dispatch, as [`effects_dispatch`] records it for a batch.
pub async fn effect_dispatch(
    tx: &mut TenantTx,
    entry: &Claimed,
    actor: &Actor,
) -> Result<Dispatch> {
    let mut dispatched = effects_dispatch(tx, std::slice::from_ref(entry), actor).await?;
    dispatched
        .pop()
        .ok_or_else(|| StoreError::Internal("a dispatch of one entry recorded none".into()))
}

/// One attempt's outcome, as [`deliveries_settle`] records it for a batch.
pub async fn delivery_settle(
    tx: &mut TenantTx,
    entry: &Claimed,
    attempt: &Attempt,
    verdict: &Verdict,
    actor: &Actor,
) -> Result<Option<Changed<Settled>>> {
    let one = [(entry.clone(), attempt.clone(), verdict.clone())];
    Ok(deliveries_settle(tx, &one, actor).await?.pop().flatten())
}

/// A move of one effect, before it is recorded.
struct Change<'a> {
    entry: &'a Claimed,
    effect: EffectAt,
    to: EffectStatus,
    event: EventType,
    data: Value,
    result: Option<Value>,
    next_retry_at: Option<DateTime<Utc>>,
}

/// Appends the changes' events and moves the effects in one statement
/// (the tenant's head is held for it and the commit only), which also
/// counts `pending`, the entries opened or closed before it; a version that
/// moved meanwhile is a conflict for the whole batch.
/// Returns each moved effect with the event that recorded its move.
async fn apply(
    tx: &mut TenantTx,
    changes: Vec<Change<'_>>,
    actor: &Actor,
    pending: PendingMove,
) -> Result<HashMap<EffectId, (Effect, Recorded)>> {
    let tenant = tx.tenant();
    if changes.is_empty() {
        // Entries closed for effects that had ended already: no event.
        tenant_pending_move(tx.conn(), tenant, pending).await?;
        return Ok(HashMap::new());
    }
    let mut events = Vec::with_capacity(changes.len());
    let mut moves = Vec::with_capacity(changes.len());
    for c in &changes {
        let event = NewEvent {
            id: EventId::new(),
            event_type: c.event,
            aggregate_id: c.effect.id.as_uuid(),
            aggregate_version: c.effect.version + 1,
            data: c.data.clone(),
            correlation: c.effect.correlation_id,
            // Each hangs from the effect's previous event: a dispatch from
            // the request or the last outcome, an outcome from its dispatch,
            // so the attempts read as a chain.
            causation: c.effect.causation_id.or(c.entry.causation_id),
            actor: actor.clone(),
        };
        moves.push(EffectMove {
            id: c.effect.id,
            expected_version: c.effect.version,
            status: c.to.as_str(),
            result: c.result.clone(),
            next_retry_at: c.next_retry_at,
            causation: event.id,
        });
        events.push(event);
    }
    let conflict = |id: EffectId, expected: i32| StoreError::VersionConflict {
        entity: "effect",
        id: id.to_string(),
        expected,
        current: None,
    };
    let moved =
        match effects_move_recorded(tx.conn(), tenant, &moves, &events, actor, pending).await {
            Err(StoreError::Conflict {
                constraint: Constraint::EventAggregateVersion,
            }) => {
                let first = &changes[0];
                return Err(conflict(first.effect.id, first.effect.version));
            }
            other => other?,
        };
    if moved.len() != moves.len() {
        let missing = moves
            .iter()
            .find(|m| !moved.iter().any(|(e, _)| e.id == m.id))
            .expect("a move that did not apply");
        return Err(conflict(missing.id, missing.expected_version));
    }
    let events: HashMap<EffectId, EventId> = moves.iter().map(|m| (m.id, m.causation)).collect();
    Ok(moved
        .into_iter()
        .map(|(effect, sequence_number)| {
            let recorded = Recorded {
                event_id: events[&effect.id],
                sequence_number,
            };
            (effect.id, (effect, recorded))
        })
        .collect())
}

/// The effects of `entries`, by id; every entry's tenant must be the
/// transaction's.
async fn effects_of<'a>(
    tx: &mut TenantTx,
    entries: impl Iterator<Item = &'a Claimed> + Clone,
) -> Result<HashMap<EffectId, Effect>> {
    let tenant = tenant_of(tx, entries.clone())?;
    let ids: Vec<EffectId> = entries.map(|e| e.effect_id).collect();
    let found: HashMap<EffectId, Effect> = effects_fetch_many(tx.conn(), tenant, &ids)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    match ids.iter().find(|id| !found.contains_key(id)) {
        Some(id) => Err(not_found("effect", id)),
        None => Ok(found),
    }
}

/// The transaction's tenant, which must be every entry's.
fn tenant_of<'a>(
    tx: &TenantTx,
    mut entries: impl Iterator<Item = &'a Claimed>,
) -> Result<TenantId> {
    let tenant = tx.tenant();
    match entries.find(|e| e.tenant_id != tenant) {
        Some(e) => Err(StoreError::Internal(format!(
            "outbox entry {} belongs to another tenant than this transaction's",
            e.id
        ))),
        None => Ok(tenant),
    }
}

fn settlement(
    entry: &Claimed,
    attempt: &Attempt,
    verdict: &Verdict,
    now: DateTime<Utc>,
) -> Settlement {
    let (status, next_retry_at) = match verdict {
        Verdict::Delivered => (OutboxStatus::Delivered, None),
        Verdict::RetryIn(delay) => (
            OutboxStatus::Pending,
            Some(now + chrono::Duration::from_std(*delay).unwrap_or(chrono::Duration::MAX)),
        ),
        Verdict::DeadLetter => (OutboxStatus::DeadLetter, None),
    };
    let failed = !matches!(verdict, Verdict::Delivered);
    Settlement {
        status,
        retry_count: entry.retry_count + i32::from(failed),
        next_retry_at,
        error_details: if failed {
            Some(error_history(entry, attempt, now))
        } else {
            entry.error_details.clone()
        },
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
pub async fn delivery_requeue(
    tx: &mut TenantTx,
    id: OutboxId,
    origin: &Origin,
) -> Result<Changed<Settled>> {
    let tenant = tx.tenant();
    let entry = outbox_fetch(tx.conn(), tenant, id)
        .await?
        .ok_or_else(|| not_found("outbox entry", id))?;
    if entry.status != OutboxStatus::DeadLetter {
        return Err(StoreError::NotDeadLetter {
            entry: id.to_string(),
            status: entry.status,
        });
    }
    let effect = effect_fetch(tx.conn(), tenant, entry.effect_id)
        .await?
        .ok_or_else(|| not_found("effect", entry.effect_id))?;
    effect.status.check(EffectStatus::Pending)?;
    let data = json!({
        "outbox_id": id, "attempts_before": entry.attempt,
        "last_error": entry.error_details.as_ref().and_then(|d| d.get("last")),
    });
    let (change, recorded) = record_move(
        tx,
        origin,
        Move {
            entity: "effect",
            id: effect.id.as_uuid(),
            version: effect.version,
            correlation: effect.correlation_id,
            hangs_from: effect.causation_id,
            to: EffectStatus::Pending.as_str(),
            event: EventType::EffectRequeued,
            data,
            output: None,
            error: None,
            next_retry_at: None,
        },
    )
    .await?;
    let requeue = EffectMove {
        id: effect.id,
        expected_version: effect.version,
        status: EffectStatus::Pending.as_str(),
        result: None,
        next_retry_at: None,
        causation: change.causation,
    };
    let effect = effects_update_status(tx.conn(), tenant, &[requeue], change.actor)
        .await?
        .pop()
        .ok_or_else(|| StoreError::VersionConflict {
            entity: "effect",
            id: effect.id.to_string(),
            expected: effect.version,
            current: None,
        })?;
    let (entry, opened) = outbox_requeue(tx.conn(), tenant, id)
        .await?
        .ok_or_else(|| StoreError::VersionConflict {
            entity: "outbox entry",
            id: id.to_string(),
            expected: entry.attempt,
            current: None,
        })?;
    tenant_pending_move(tx.conn(), tenant, opened).await?;
    Ok(Changed::new(Settled { entry, effect }, vec![recorded]))
}

/// Entries one purge transaction deletes at most, so that no transaction
/// holds many locks.
pub const PURGE_CHUNK: i64 = 5_000;

/// Retention in one tenant: deletes up to [`PURGE_CHUNK`] of its entries
/// delivered before `before`; returns how many went. Fewer than a chunk
/// means none are left; otherwise commit and call again. Like the plane's
/// purge it records no event: the effect's events stay in the log, and
/// dead letters stay until an operator acts.
pub async fn outbox_purge_tenant(tx: &mut TenantTx, before: DateTime<Utc>) -> Result<u64> {
    let tenant = tx.tenant();
    outbox_purge_tenant_chunk(tx.conn(), tenant, before, PURGE_CHUNK).await
}

/// Retention: deletes delivered entries older than `before` across the
/// plane (but in the tenants of `except`), a chunk per transaction; returns
/// how many went. Dead letters stay until an operator acts, and the event
/// log keeps every EFFECT_* event.
pub async fn outbox_purge(
    store: &crate::Store,
    before: DateTime<Utc>,
    except: &[TenantId],
) -> Result<u64> {
    let mut total = 0;
    loop {
        let mut tx = store.dispatch_tx().await?;
        let done = outbox_purge_chunk(tx.conn(), before, PURGE_CHUNK, except).await?;
        tx.commit().await?;
        total += done;
        if done < PURGE_CHUNK as u64 {
            return Ok(total);
        }
    }
}
