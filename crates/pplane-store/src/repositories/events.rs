//! The event log: append and read. There is deliberately no update or delete
//! here (and the database refuses both for every role).

use chrono::{DateTime, Utc};
use pplane_domain::{
    Actor, AggregateType, CorrelationId, EventId, EventType, RunId, TenantId, EVENT_SCHEMA_VERSION,
};
use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

use super::MaybeId;
use crate::limits::{check_size, EVENT_DATA_MAX};
use crate::Result;

/// An event to append. Its position is assigned by [`event_append`].
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: EventId,
    pub event_type: EventType,
    pub aggregate_id: Uuid,
    /// The aggregate's version after this change.
    pub aggregate_version: i32,
    pub data: serde_json::Value,
    pub correlation: CorrelationId,
    pub causation: Option<EventId>,
    pub actor: Actor,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    #[sqlx(try_from = "Uuid")]
    pub id: EventId,
    pub sequence_number: i64,
    #[sqlx(try_from = "String")]
    pub event_type: EventType,
    #[sqlx(try_from = "String")]
    pub aggregate_type: AggregateType,
    pub aggregate_id: Uuid,
    pub aggregate_version: i32,
    pub schema_version: i16,
    pub event_data: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    #[sqlx(try_from = "Uuid")]
    pub correlation_id: CorrelationId,
    #[sqlx(try_from = "MaybeId")]
    pub causation_id: Option<EventId>,
    #[sqlx(try_from = "String")]
    pub actor: Actor,
}

pub(crate) const EVENT_COLUMNS: &str =
    "id, sequence_number, event_type, aggregate_type, aggregate_id, aggregate_version, \
     schema_version, event_data, occurred_at, correlation_id, causation_id, actor::text AS actor";

/// How a statement moves its tenant's pending counts (the quotas'): the
/// entries it opens less those it closes, and their payloads' bytes as each
/// entry keeps them (migration 24).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingMove {
    pub effects: i64,
    pub bytes: i64,
}

impl PendingMove {
    pub fn is_zero(self) -> bool {
        self == PendingMove::default()
    }
}

/// The two parts of every statement that appends, for its `WITH`: `head`
/// moves the tenant's head row on by the batch ($1 the tenant, $2 how many;
/// its lock lasts until commit, which is what makes positions gap-free and
/// commit-ordered) and its pending counts by $13 and $14 (a
/// [`PendingMove`]: the statement that opens or closes entries counts them
/// under the lock it takes anyway), and `appended` inserts the rows from
/// the arrays $3 to $12 ([`append_bind`]), returning each one's id and
/// position.
pub(super) const APPEND: &str =
    "head AS (
         INSERT INTO tenant_event_heads AS h (tenant_id, last_sequence, pending_effects, pending_bytes)
         VALUES ($1, $2, $13, $14)
         ON CONFLICT (tenant_id) DO UPDATE
             SET last_sequence = h.last_sequence + EXCLUDED.last_sequence,
                 pending_effects = h.pending_effects + EXCLUDED.pending_effects,
                 pending_bytes = h.pending_bytes + EXCLUDED.pending_bytes
         RETURNING h.last_sequence - $2 AS base
     ),
     appended AS (
         INSERT INTO orchestration_events (tenant_id, id, sequence_number, event_type, aggregate_type,
                                           aggregate_id, aggregate_version, schema_version, event_data,
                                           correlation_id, causation_id, actor)
         SELECT $1, e.id, head.base + e.ord, e.event_type, e.aggregate_type, e.aggregate_id,
                e.aggregate_version, $3, e.event_data, e.correlation_id, e.causation_id, e.actor
         FROM head, unnest($4::uuid[], $5::text[], $6::text[], $7::uuid[], $8::int[], $9::jsonb[],
                           $10::uuid[], $11::uuid[], $12::text[])
              WITH ORDINALITY AS e(id, event_type, aggregate_type, aggregate_id, aggregate_version,
                                   event_data, correlation_id, causation_id, actor, ord)
         ORDER BY e.ord
         RETURNING id, sequence_number
     )";

/// Binds [`APPEND`]'s parameters: refuses an event whose data is too large.
pub(super) fn append_bind<'q, O>(
    query: QueryAs<'q, Postgres, O, PgArguments>,
    tenant: TenantId,
    events: &[NewEvent],
    pending: PendingMove,
) -> Result<QueryAs<'q, Postgres, O, PgArguments>> {
    let mut cols = EventColumns::default();
    for e in events {
        check_size("event_data", &e.data, EVENT_DATA_MAX)?;
        cols.id.push(e.id.as_uuid());
        cols.event_type.push(e.event_type.as_str().to_owned());
        cols.aggregate_type
            .push(e.event_type.aggregate().as_str().to_owned());
        cols.aggregate_id.push(e.aggregate_id);
        cols.aggregate_version.push(e.aggregate_version);
        cols.data.push(e.data.clone());
        cols.correlation.push(e.correlation.as_uuid());
        cols.causation.push(e.causation.map(|c| c.as_uuid()));
        cols.actor.push(e.actor.to_string());
    }
    Ok(query
        .bind(tenant.as_uuid())
        .bind(events.len() as i64)
        .bind(EVENT_SCHEMA_VERSION)
        .bind(cols.id)
        .bind(cols.event_type)
        .bind(cols.aggregate_type)
        .bind(cols.aggregate_id)
        .bind(cols.aggregate_version)
        .bind(cols.data)
        .bind(cols.correlation)
        .bind(cols.causation)
        .bind(cols.actor)
        .bind(pending.effects)
        .bind(pending.bytes))
}

/// Appends `events` for `tenant` and returns their sequence numbers, which
/// are consecutive: one statement ([`APPEND`]).
pub async fn event_append(
    conn: &mut PgConnection,
    tenant: TenantId,
    events: &[NewEvent],
) -> Result<Vec<i64>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("WITH {APPEND} SELECT sequence_number FROM appended");
    let query = append_bind(sqlx::query_as(&sql), tenant, events, PendingMove::default())?;
    let started = std::time::Instant::now();
    let rows: Vec<(i64,)> = query.fetch_all(conn).await?;
    crate::metrics::appended("statement", events.len(), started.elapsed());
    let mut sequences: Vec<i64> = rows.into_iter().map(|(s,)| s).collect();
    sequences.sort_unstable();
    Ok(sequences)
}

#[derive(Default)]
struct EventColumns {
    id: Vec<Uuid>,
    event_type: Vec<String>,
    aggregate_type: Vec<String>,
    aggregate_id: Vec<Uuid>,
    aggregate_version: Vec<i32>,
    data: Vec<serde_json::Value>,
    correlation: Vec<Uuid>,
    causation: Vec<Option<Uuid>>,
    actor: Vec<String>,
}

/// Events of `tenant` after position `after`, in order: what a consumer
/// tailing the log reads.
pub async fn events_after(
    conn: &mut PgConnection,
    tenant: TenantId,
    after: i64,
    limit: i64,
) -> Result<Vec<Event>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM orchestration_events
         WHERE tenant_id = $1 AND sequence_number > $2 ORDER BY sequence_number LIMIT $3"
    ))
    .bind(tenant.as_uuid())
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Every event of one correlation, in order (debugging procedure, step 4).
pub async fn events_by_correlation(
    conn: &mut PgConnection,
    tenant: TenantId,
    correlation: CorrelationId,
) -> Result<Vec<Event>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM orchestration_events
         WHERE tenant_id = $1 AND correlation_id = $2 ORDER BY sequence_number"
    ))
    .bind(tenant.as_uuid())
    .bind(correlation.as_uuid())
    .fetch_all(conn)
    .await?)
}

/// The correlation of event `id` in this tenant, if there is such an event.
pub async fn event_correlation_of(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: EventId,
) -> Result<Option<CorrelationId>> {
    let found: Option<Uuid> = sqlx::query_scalar(
        "SELECT correlation_id FROM orchestration_events WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?;
    Ok(found.map(CorrelationId::from_uuid))
}

/// The newest of the events that last changed each step of `run`: where
/// the run's progress stands, which its end (or a checkpoint) follows.
pub async fn event_latest_of_steps(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: RunId,
) -> Result<Option<EventId>> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "SELECT e.id FROM steps s
         JOIN orchestration_events e ON e.tenant_id = s.tenant_id AND e.id = s.causation_id
         WHERE s.tenant_id = $1 AND s.run_id = $2
         ORDER BY e.sequence_number DESC LIMIT 1",
    )
    .bind(tenant.as_uuid())
    .bind(run.as_uuid())
    .fetch_optional(conn)
    .await?;
    Ok(id.map(EventId::from_uuid))
}

/// `WITH RECURSIVE causal_chain (id, event_type, causation_id, depth)`: the
/// events reachable from the root of correlation `correlation` (an SQL
/// expression) in tenant `$1`. Each step is one index probe on
/// `(tenant_id, causation_id)`: written as a plain join, the planner hashes
/// the tenant's whole log at every step (a 1,000-event chain took 105 ms;
/// with the `OFFSET 0` fence, 4 ms).
pub(crate) fn causal_chain_cte(correlation: &str) -> String {
    format!(
        "WITH RECURSIVE causal_chain AS (
             SELECT id, event_type::text, causation_id, 0 AS depth
             FROM orchestration_events
             WHERE tenant_id = $1 AND correlation_id = {correlation} AND causation_id IS NULL
             UNION ALL
             SELECT e.id, e.event_type, e.causation_id, link.depth + 1
             FROM causal_chain link CROSS JOIN LATERAL (
                 SELECT id, event_type::text, causation_id FROM orchestration_events
                 WHERE tenant_id = $1 AND causation_id = link.id
                 OFFSET 0) e)"
    )
}

/// One link of a causation chain.
#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CausalLink {
    #[sqlx(try_from = "Uuid")]
    pub id: EventId,
    #[sqlx(try_from = "String")]
    pub event_type: EventType,
    #[sqlx(try_from = "MaybeId")]
    pub causation_id: Option<EventId>,
    pub depth: i32,
}

/// The walkthrough's recursive causation query (section 8, step 7), from the
/// root event of a correlation down every chain, with the tenant filter that
/// keeps it on one shard.
pub async fn event_causal_chain(
    conn: &mut PgConnection,
    tenant: TenantId,
    correlation: CorrelationId,
) -> Result<Vec<CausalLink>> {
    Ok(sqlx::query_as(&format!(
        "{} SELECT * FROM causal_chain ORDER BY depth ASC",
        causal_chain_cte("$2")
    ))
    .bind(tenant.as_uuid())
    .bind(correlation.as_uuid())
    .fetch_all(conn)
    .await?)
}

/// The domain's `EventType::implied_status` as the rows of an SQL
/// `VALUES (event_type, status)` list, for queries that judge or rebuild a
/// status from the log.
pub(crate) fn implied_status_values() -> String {
    EventType::ALL
        .iter()
        .filter_map(|t| {
            t.implied_status()
                .map(|s| format!("('{}', '{s}')", t.as_str()))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
