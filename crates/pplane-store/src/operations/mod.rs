//! Operations: the state changes of the plane, each one a unit of rules over
//! the repositories. Every operation checks the move against the domain's
//! state machine (an illegal move writes nothing), appends its event before
//! it changes the state row, and does both in the caller's transaction, so
//! they commit or vanish together.
//!
//! Causation: unless the caller names the event that caused a change
//! (`Origin::caused_by`, checked to be of the same tenant and correlation),
//! it is the event the changed thing hangs from: a step's events follow that
//! step's previous event (its first one, the run's), a tool call's start
//! follows its step's, an effect's request the step (or run) that asked for
//! it, a run's end its last step's. Parallel work so forms siblings in one
//! causation tree rooted at the signal's SIGNAL_RECEIVED.
//!
//! # Layout
//! - [`api_keys`]: keys for the HTTP service: create, list, revoke, verify.
//! - [`ingest`]: idempotent signal ingestion, which starts a run.
//! - [`runs`]: the run lifecycle: start, and an end that settles what is under it.
//! - [`steps`]: steps: added, started, completed, failed and retried, skipped.
//! - [`tool_calls`]: the tool calls a running step makes.
//! - [`checkpoints`]: save and load what a resume needs; retention prunes superseded states.
//! - [`effects`]: requesting external effects through the outbox.
//! - [`destinations`]: where a tenant's effects go, with their signing secrets.
//! - [`delivery`]: what the outbox worker records: dispatches and attempt outcomes.
//! - [`langgraph`]: LangGraph threads: checkpoints, channel values, pending writes.

pub mod api_keys;
pub mod checkpoints;
pub mod delivery;
pub mod destinations;
pub mod effects;
pub mod ingest;
pub mod langgraph;
pub mod runs;
pub mod steps;
pub mod tool_calls;

use pplane_domain::{Actor, CorrelationId, EventId, EventType};
use uuid::Uuid;

use crate::error::Constraint;
use crate::repositories::events::{event_append, event_correlation_of, NewEvent};
use crate::repositories::StatusChange;
use crate::unit_of_work::TenantTx;
use crate::{Result, StoreError};

/// Who makes a change, which event caused it, and which version of the
/// aggregate the caller saw.
#[derive(Debug, Clone)]
pub struct Origin {
    pub actor: Actor,
    pub caused_by: Option<EventId>,
    /// Optimistic concurrency: the change applies only to this version (the
    /// one the caller read); another version is a conflict. None: whatever
    /// version is current when the change is made.
    pub expected_version: Option<i32>,
}

impl Origin {
    pub fn by(actor: Actor) -> Origin {
        Origin {
            actor,
            caused_by: None,
            expected_version: None,
        }
    }
}

/// An event an operation appended: its id (to name as the cause of what it
/// sets off) and its position in the tenant's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recorded {
    pub event_id: EventId,
    pub sequence_number: i64,
}

/// What an operation changed, as it is now, and the events it appended, in
/// order (none when it found the change already made: a duplicate).
/// Dereferences to the value, so `started.status` reads as the run's, and
/// serializes as the value's fields with `events` added.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Changed<T> {
    #[serde(flatten)]
    pub value: T,
    pub events: Vec<Recorded>,
}

impl<T> Changed<T> {
    pub(crate) fn new(value: T, events: Vec<Recorded>) -> Changed<T> {
        Changed { value, events }
    }

    /// The event that recorded the change itself, which is the first one
    /// appended (those after it are its consequences: a run's end cancelling
    /// what was under it, a signal's run being created). None for a
    /// duplicate. Name it as the cause of the work the change sets off
    /// (`Origin::caused_by`).
    pub fn event(&self) -> Option<Recorded> {
        self.events.first().copied()
    }

    pub fn into_value(self) -> T {
        self.value
    }
}

impl<T> std::ops::Deref for Changed<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// Appends the event of one change of one aggregate. A second writer that
/// reaches the same aggregate version loses here, on the unique
/// (aggregate_id, aggregate_version) key, and gets a version conflict.
///
/// Its cause is the caller's `Origin::caused_by`, which must be an event of
/// this tenant and this correlation (checked; otherwise nothing is written),
/// or else `hangs_from`: the event the changed thing hangs from, which each
/// operation names (see docs/events.md, "Causation").
pub(crate) async fn record(
    tx: &mut TenantTx,
    correlation: CorrelationId,
    origin: &Origin,
    hangs_from: Option<EventId>,
    event_type: EventType,
    aggregate: (&'static str, Uuid, i32),
    data: serde_json::Value,
) -> Result<Recorded> {
    let (entity, aggregate_id, version) = aggregate;
    let tenant = tx.tenant();
    let event = event_new(
        tx,
        correlation,
        origin,
        hangs_from,
        event_type,
        (aggregate_id, version),
        data,
    )
    .await?;
    match event_append(tx.conn(), tenant, std::slice::from_ref(&event)).await {
        Ok(seqs) => Ok(Recorded {
            event_id: event.id,
            sequence_number: seqs[0],
        }),
        Err(StoreError::Conflict {
            constraint: Constraint::EventAggregateVersion,
        }) => Err(StoreError::VersionConflict {
            entity,
            id: aggregate_id.to_string(),
            expected: version - 1,
            current: None,
        }),
        Err(other) => Err(other),
    }
}

/// The event [`record`] appends, for an operation that appends it in a
/// statement of its own making: its cause checked as `record` checks it.
pub(crate) async fn event_new(
    tx: &mut TenantTx,
    correlation: CorrelationId,
    origin: &Origin,
    hangs_from: Option<EventId>,
    event_type: EventType,
    (aggregate_id, aggregate_version): (Uuid, i32),
    data: serde_json::Value,
) -> Result<NewEvent> {
    let causation = match origin.caused_by {
        Some(cause) => {
            cause_check(tx, cause, correlation).await?;
            Some(cause)
        }
        None => hangs_from,
    };
    Ok(NewEvent {
        id: EventId::new(),
        event_type,
        aggregate_id,
        aggregate_version,
        data,
        correlation,
        causation,
        actor: origin.actor.clone(),
    })
}

/// Appends events that need no causation check (each names its own cause,
/// read from the rows it records), in one statement: what each recorded.
pub(crate) async fn record_all(tx: &mut TenantTx, new: &[NewEvent]) -> Result<Vec<Recorded>> {
    let tenant = tx.tenant();
    let positions = event_append(tx.conn(), tenant, new).await?;
    Ok(new
        .iter()
        .zip(positions)
        .map(|(e, sequence_number)| Recorded {
            event_id: e.id,
            sequence_number,
        })
        .collect())
}

/// A caller's cause must be an event of this tenant and this correlation:
/// the append-only log would keep a bogus one forever.
async fn cause_check(tx: &mut TenantTx, cause: EventId, correlation: CorrelationId) -> Result<()> {
    let tenant = tx.tenant();
    match event_correlation_of(tx.conn(), tenant, cause).await? {
        None => Err(StoreError::CauseUnknown {
            event: cause.to_string(),
        }),
        Some(c) if c != correlation => Err(StoreError::CauseElsewhere {
            event: cause.to_string(),
            correlation: c.to_string(),
        }),
        Some(_) => Ok(()),
    }
}

/// A status change as the state machine approved it, before it is recorded.
pub(crate) struct Move<'a> {
    pub entity: &'static str,
    pub id: Uuid,
    pub version: i32,
    pub correlation: CorrelationId,
    /// The event it hangs from: its own previous event, as a rule.
    pub hangs_from: Option<EventId>,
    pub to: &'static str,
    pub event: EventType,
    pub data: serde_json::Value,
    pub output: Option<&'a serde_json::Value>,
    pub error: Option<&'a serde_json::Value>,
    pub next_retry_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Records the move's event and returns it with the versioned change for the
/// row, which the caller applies with its entity's `*_update_status`.
pub(crate) async fn record_move<'a>(
    tx: &mut TenantTx,
    origin: &'a Origin,
    m: Move<'a>,
) -> Result<(StatusChange<'a>, Recorded)> {
    let aggregate = (m.entity, m.id, m.version + 1);
    let recorded = record(
        tx,
        m.correlation,
        origin,
        m.hangs_from,
        m.event,
        aggregate,
        m.data,
    )
    .await?;
    let change = StatusChange {
        expected_version: m.version,
        status: m.to,
        output: m.output,
        error: m.error,
        next_retry_at: m.next_retry_at,
        causation: recorded.event_id,
        actor: &origin.actor,
    };
    Ok((change, recorded))
}

/// The row a versioned update returned, or the version conflict that its
/// absence means: another writer changed it after it was read.
pub(crate) fn applied<T>(
    updated: Option<T>,
    entity: &'static str,
    id: impl ToString,
    expected: i32,
) -> Result<T> {
    updated.ok_or_else(|| StoreError::VersionConflict {
        entity,
        id: id.to_string(),
        expected,
        current: None,
    })
}

/// Fails when the caller expected another version than the current one.
pub(crate) fn expect_version(
    origin: &Origin,
    entity: &'static str,
    id: impl ToString,
    current: i32,
) -> Result<()> {
    match origin.expected_version {
        Some(expected) if expected != current => Err(StoreError::VersionConflict {
            entity,
            id: id.to_string(),
            expected,
            current: Some(current),
        }),
        _ => Ok(()),
    }
}

pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        entity,
        id: id.to_string(),
    }
}

/// Text fields with a length limit in the schema: not blank, not too long,
/// no NUL (which PostgreSQL cannot store). The error shows a short preview
/// of the value, never the whole of it.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    let problem = if value.trim().is_empty() {
        Some("is blank")
    } else if value.chars().count() > max {
        Some("is too long")
    } else if value.contains('\0') {
        Some("contains the NUL character")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(StoreError::InvalidInput(format!(
            "{field} must be 1 to {max} characters without NUL; {} {problem}",
            pplane_domain::text::preview(value)
        ))),
        None => Ok(()),
    }
}

/// `base` with the fields of `extra` added: event data built in layers.
pub(crate) fn data_merge(
    mut base: serde_json::Value,
    extra: serde_json::Value,
) -> serde_json::Value {
    if let (Some(b), serde_json::Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}
