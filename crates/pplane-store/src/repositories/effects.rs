//! Effects and their outbox entries, always written together.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use pplane_domain::{
    Actor, CorrelationId, DestinationId, EffectId, EffectStatus, EventId, OutboxId, RunId, StepId,
    TenantId,
};
use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

use super::events::{append_bind, NewEvent, PendingMove, APPEND};
use super::outbox::WAKE_WORKERS;
use super::runs::{Run, COLUMNS as RUN_COLUMNS};
use super::tenants::{TenantQuota, QUOTA_COLUMNS};
use super::MaybeId;
use crate::Result;

#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Effect {
    #[sqlx(try_from = "Uuid")]
    pub id: EffectId,
    #[sqlx(try_from = "Uuid")]
    pub run_id: RunId,
    #[sqlx(try_from = "MaybeId")]
    pub step_id: Option<StepId>,
    pub effect_type: String,
    pub effect_spec: serde_json::Value,
    pub idempotency_key: String,
    #[sqlx(try_from = "String")]
    pub status: EffectStatus,
    pub version: i32,
    pub execution_result: Option<serde_json::Value>,
    pub retry_count: i32,
    pub next_retry_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Uuid")]
    pub correlation_id: CorrelationId,
    /// The event that last changed it: what its next event follows.
    #[sqlx(try_from = "MaybeId")]
    pub causation_id: Option<EventId>,
    #[sqlx(try_from = "String")]
    pub actor: Actor,
}

/// Where an effect stands: what the next event of its state machine
/// follows and checks. Read with its outbox entry where a statement settles
/// the entry, so that the settlement need not read the effect first.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct EffectAt {
    #[sqlx(rename = "effect_id", try_from = "Uuid")]
    pub id: EffectId,
    #[sqlx(rename = "effect_status", try_from = "String")]
    pub status: EffectStatus,
    #[sqlx(rename = "effect_version")]
    pub version: i32,
    #[sqlx(rename = "effect_correlation_id", try_from = "Uuid")]
    pub correlation_id: CorrelationId,
    #[sqlx(rename = "effect_causation_id", try_from = "MaybeId")]
    pub causation_id: Option<EventId>,
}

impl From<&Effect> for EffectAt {
    fn from(e: &Effect) -> EffectAt {
        EffectAt {
            id: e.id,
            status: e.status,
            version: e.version,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
        }
    }
}

pub(crate) const COLUMNS: &str =
    "id, run_id, step_id, effect_type, effect_spec, idempotency_key, status, version, \
     execution_result, retry_count, next_retry_at, correlation_id, causation_id, actor::text AS actor";

pub struct NewEffect<'a> {
    pub id: EffectId,
    pub outbox_id: OutboxId,
    pub run: RunId,
    pub step: Option<StepId>,
    pub effect_type: &'a str,
    /// Carries `idempotency_key`, as the schema requires.
    pub spec: &'a serde_json::Value,
    /// The spec's size as jsonb text ([`crate::limits::jsonb_text_len`]):
    /// what its outbox entry keeps and its tenant's quota counts.
    pub spec_bytes: i64,
    pub key: &'a str,
    pub correlation: CorrelationId,
    pub actor: &'a Actor,
    /// Where the outbox delivers it.
    pub destination: Option<DestinationId>,
}

pub async fn effect_fetch(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: EffectId,
) -> Result<Option<Effect>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM effects WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?)
}

/// What an effect request reads before it writes, in one statement (a
/// request is mostly round trips): the effect already requested with its
/// key, the tenant's quotas and counts, the destination it names, and its
/// run, held with a share lock until the transaction ends (the run cannot
/// end meanwhile: `operations::runs::run_open`). Read after the request's
/// idempotency lock, in a statement of its own, so that it sees the effect
/// of a racing request that held the lock before it.
pub struct RequestRead {
    pub existing: Option<EffectId>,
    pub quota: TenantQuota,
    pub destination: Option<DestinationId>,
    pub run: Option<Run>,
}

/// [`RequestRead`], or None if the tenant is not visible.
pub async fn effect_request_read(
    conn: &mut PgConnection,
    tenant: TenantId,
    key: &str,
    destination: Option<&str>,
    run: RunId,
) -> Result<Option<RequestRead>> {
    use sqlx::{FromRow, Row};
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {QUOTA_COLUMNS},
                    (SELECT e.id FROM effects e
                     WHERE e.tenant_id = $1 AND e.idempotency_key = $2) AS existing_effect,
                    (SELECT d.id FROM effect_destinations d
                     WHERE d.tenant_id = $1 AND d.name = $3) AS destination,
                    r.id IS NOT NULL AS run_found, r.*
             FROM tenants t
             LEFT JOIN tenant_event_heads h ON h.tenant_id = t.tenant_id
             LEFT JOIN LATERAL (SELECT {RUN_COLUMNS} FROM runs
                                WHERE tenant_id = $1 AND id = $4 FOR SHARE) r ON true
             WHERE t.tenant_id = $1"
        )
    });
    let Some(row) = sqlx::query(SQL.as_str())
        .bind(tenant.as_uuid())
        .bind(key)
        .bind(destination)
        .bind(run.as_uuid())
        .fetch_optional(conn)
        .await?
    else {
        return Ok(None);
    };
    let existing: Option<Uuid> = row.try_get("existing_effect")?;
    let destination: Option<Uuid> = row.try_get("destination")?;
    let run = if row.try_get("run_found")? {
        Some(Run::from_row(&row)?)
    } else {
        None
    };
    Ok(Some(RequestRead {
        existing: existing.map(EffectId::from_uuid),
        quota: TenantQuota::from_row(&row)?,
        destination: destination.map(DestinationId::from_uuid),
        run,
    }))
}

/// Records a request and writes what it asked for, in one statement:
/// appends `event` (EFFECT_REQUESTED, which names the effect and is its
/// causation), inserts the effect and its outbox entry, counts the
/// entry as pending on the tenant's head row, which the append holds
/// anyway, and wakes the outbox workers when the transaction commits.
/// There is never an effect without its delivery and its event, nor a
/// delivery without its effect. Returns the effect and its event's position.
pub async fn effect_insert_recorded(
    conn: &mut PgConnection,
    tenant: TenantId,
    e: &NewEffect<'_>,
    event: &NewEvent,
) -> Result<(Effect, i64)> {
    // The text never changes: built once, not on every request.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH {APPEND},
             effect AS (
                 INSERT INTO effects (tenant_id, id, run_id, step_id, effect_type, effect_spec,
                                      idempotency_key, correlation_id, causation_id, actor)
                 VALUES ($1, $15, $16, $17, $18, $19, $20, $21, $22, $23)
                 RETURNING {COLUMNS}),
             outbox AS (
                 INSERT INTO outbox_events (tenant_id, id, event_type, aggregate_type, aggregate_id,
                                            payload, payload_bytes, idempotency_key, correlation_id,
                                            causation_id, actor, destination_id)
                 SELECT $1, $24, $18, 'EFFECT', effect.id, $19, $14, $20, $21, $22, $23, $25
                 FROM effect
                 -- Returned so that Citus stages the row beside the shard and
                 -- inserts it under the policies, not with COPY (migration 14).
                 RETURNING id)
             SELECT effect.*, a.sequence_number FROM effect, appended a, {WAKE_WORKERS}"
        )
    });
    let pending = PendingMove {
        effects: 1,
        bytes: e.spec_bytes,
    };
    let query = append_bind(
        sqlx::query_as(SQL.as_str()),
        tenant,
        std::slice::from_ref(event),
        pending,
    )?;
    let started = std::time::Instant::now();
    let row: MovedRow = query
        .bind(e.id.as_uuid())
        .bind(e.run.as_uuid())
        .bind(e.step.map(|s| s.as_uuid()))
        .bind(e.effect_type)
        .bind(e.spec)
        .bind(e.key)
        .bind(e.correlation.as_uuid())
        .bind(event.id.as_uuid())
        .bind(e.actor.to_string())
        .bind(e.outbox_id.as_uuid())
        .bind(e.destination.map(|d| d.as_uuid()))
        .fetch_one(conn)
        .await?;
    crate::metrics::appended("statement", 1, started.elapsed());
    Ok((row.effect, row.sequence_number))
}

/// A stored effect, and whether it is the same request: same run, type and
/// spec, the spec compared as PostgreSQL compares jsonb (key order and
/// number spelling do not matter), as signal payloads are. One statement:
/// what a repeated request (a client's retry) reads.
pub async fn effect_fetch_comparing(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: EffectId,
    run: RunId,
    effect_type: &str,
    spec: &serde_json::Value,
) -> Result<Option<(Effect, bool)>> {
    #[derive(sqlx::FromRow)]
    struct Compared {
        #[sqlx(flatten)]
        effect: Effect,
        same: bool,
    }
    let row: Option<Compared> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, run_id = $3 AND effect_type = $4 AND effect_spec = $5 AS same
         FROM effects WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind(run.as_uuid())
    .bind(effect_type)
    .bind(spec)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.effect, r.same)))
}

pub async fn effects_fetch_many(
    conn: &mut PgConnection,
    tenant: TenantId,
    ids: &[EffectId],
) -> Result<Vec<Effect>> {
    let ids: Vec<Uuid> = ids.iter().map(EffectId::as_uuid).collect();
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM effects WHERE tenant_id = $1 AND id = ANY($2)"
    ))
    .bind(tenant.as_uuid())
    .bind(&ids)
    .fetch_all(conn)
    .await?)
}

/// One effect's versioned status change, for [`effects_update_status`].
#[derive(Debug, Clone)]
pub struct EffectMove {
    pub id: EffectId,
    pub expected_version: i32,
    pub status: &'static str,
    /// The execution result (or the error of a failed attempt).
    pub result: Option<serde_json::Value>,
    pub next_retry_at: Option<DateTime<Utc>>,
    /// The event that records the move.
    pub causation: EventId,
}

/// Moves effects, each only if still at its expected version, in one
/// statement; returns those it moved (fewer than asked: another writer moved
/// the rest first). A failed attempt (FAILED) counts in retry_count and
/// carries next_retry_at; a requeue (back to PENDING) resets both.
pub async fn effects_update_status(
    conn: &mut PgConnection,
    tenant: TenantId,
    moves: &[EffectMove],
    actor: &Actor,
) -> Result<Vec<Effect>> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("{} RETURNING {}", moves_update(2, ""), returning("e")));
    let query = sqlx::query_as(SQL.as_str()).bind(tenant.as_uuid());
    Ok(moves_bind(query, moves, actor).fetch_all(conn).await?)
}

/// Moves effects as [`effects_update_status`] does and appends `events`, the
/// events that record the moves (each move's `causation`), in one
/// statement. Each move joins its event, so the tenant's head row is locked
/// before any effect's, as when the two are written one after the other,
/// and it is held for this one statement and the commit. Returns each moved
/// effect with its event's position; an effect missing from the answer was
/// at another version (its event is appended all the same: roll back).
/// `pending` is what the transaction opened or closed before it, counted
/// under the head row's lock.
pub async fn effects_move_recorded(
    conn: &mut PgConnection,
    tenant: TenantId,
    moves: &[EffectMove],
    events: &[NewEvent],
    actor: &Actor,
    pending: PendingMove,
) -> Result<Vec<(Effect, i64)>> {
    if moves.is_empty() {
        return Ok(Vec::new());
    }
    // The text never changes: built once, not on every record and settlement.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let update = moves_update(15, "JOIN appended a ON a.id = m.causation");
        format!(
            "WITH {APPEND}, moved AS ({update} RETURNING {}, a.sequence_number)
             SELECT * FROM moved",
            returning("e")
        )
    });
    let query = append_bind(sqlx::query_as(SQL.as_str()), tenant, events, pending)?;
    let started = std::time::Instant::now();
    let moved: Vec<MovedRow> = moves_bind(query, moves, actor).fetch_all(conn).await?;
    crate::metrics::appended("statement", events.len(), started.elapsed());
    Ok(moved
        .into_iter()
        .map(|r| (r.effect, r.sequence_number))
        .collect())
}

#[derive(sqlx::FromRow)]
struct MovedRow {
    #[sqlx(flatten)]
    effect: Effect,
    sequence_number: i64,
}

/// The UPDATE that moves effects from the arrays `$first` to `$first + 5`
/// (`$first + 6` the actor, $1 the tenant), each row of them joined to `join`.
/// The ids are named to the index as well as joined: the statement's
/// generic plan, guessing a few effects a tenant, would otherwise read the
/// tenant's every effect into a hash join (a backlog's 20,000 for 32).
fn moves_update(first: usize, join: &str) -> String {
    let p = |k: usize| format!("${}", first + k);
    format!(
        "UPDATE effects e SET status = m.status, version = e.version + 1,
                execution_result = coalesce(m.result, e.execution_result),
                retry_count = CASE WHEN m.status = 'FAILED' THEN e.retry_count + 1
                                   WHEN m.status = 'PENDING' THEN 0 ELSE e.retry_count END,
                next_retry_at = m.next_retry_at, causation_id = m.causation, actor = {actor}
         FROM unnest({}::uuid[], {}::int[], {}::text[], {}::jsonb[], {}::timestamptz[], {}::uuid[])
              AS m (id, expected, status, result, next_retry_at, causation) {join}
         WHERE e.tenant_id = $1 AND e.id = ANY({ids}) AND e.id = m.id AND e.version = m.expected",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        actor = p(6),
        ids = p(0),
    )
}

/// Binds [`moves_update`]'s parameters, after those bound already.
fn moves_bind<'q, O>(
    query: QueryAs<'q, Postgres, O, PgArguments>,
    moves: &[EffectMove],
    actor: &Actor,
) -> QueryAs<'q, Postgres, O, PgArguments> {
    let ids: Vec<Uuid> = moves.iter().map(|m| m.id.as_uuid()).collect();
    let versions: Vec<i32> = moves.iter().map(|m| m.expected_version).collect();
    let statuses: Vec<&'static str> = moves.iter().map(|m| m.status).collect();
    let results: Vec<Option<serde_json::Value>> = moves.iter().map(|m| m.result.clone()).collect();
    let retries: Vec<Option<DateTime<Utc>>> = moves.iter().map(|m| m.next_retry_at).collect();
    let causes: Vec<Uuid> = moves.iter().map(|m| m.causation.as_uuid()).collect();
    query
        .bind(ids)
        .bind(versions)
        .bind(statuses)
        .bind(results)
        .bind(retries)
        .bind(causes)
        .bind(actor.to_string())
}

/// The effect's columns as returned by a statement on `alias`.
fn returning(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
