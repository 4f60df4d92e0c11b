//! The outbox: claims across tenants (as `pplane_dispatcher`), fenced
//! settlements and operator actions inside a tenant (as `pplane_app`).
//!
//! An entry's attempt number goes up when it is claimed, and a settlement
//! names the attempt and the lease owner it answers: once the lease has run
//! out and another worker has claimed the entry, the first worker's late
//! answer matches no row and changes nothing.

use chrono::{DateTime, Utc};
use pplane_domain::{CorrelationId, EffectId, EventId, OutboxId, OutboxStatus, TenantId};

use super::effects::EffectAt;
use super::events::PendingMove;
use super::MaybeId;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// The channel a committed effect request notifies; workers listen on it.
pub const OUTBOX_CHANNEL: &str = "pplane_outbox";

/// The notification that wakes the workers, as a one-row subquery that the
/// statements creating work join: sent by the application's
/// own statement (on Citus a trigger's NOTIFY fires on a worker node, where
/// no worker listens; this subquery reads no table, so Citus runs it on the
/// coordinator as a subplan of its own, where the workers LISTEN),
/// delivered only if the transaction commits, and sent once per transaction
/// however many entries it adds (PostgreSQL folds identical notifications
/// of one transaction into one).
pub(crate) const WAKE_WORKERS: &str =
    "(SELECT 1 AS woken FROM pg_notify('pplane_outbox', '')) wake";

/// What a claim sets: the entry IN_FLIGHT for one more attempt, held by
/// `$2` until the lease of `$3` ms ends, and due again then.
const CLAIM: &str = "SET status = 'IN_FLIGHT', attempt = o.attempt + 1, lease_owner = $2,
             lease_expires_at = now() + $3 * interval '1 millisecond',
             available_at = now() + $3 * interval '1 millisecond'";

/// What a claim returns: the columns of [`Claimed`], from the entry `o`
/// and its destination `d`.
const CLAIMED: &str = "o.tenant_id, o.id, o.aggregate_id AS effect_id, o.event_type, o.payload,
                   o.idempotency_key, o.attempt, o.retry_count, o.correlation_id, o.causation_id,
                   o.error_details, o.lease_owner, o.created_at, d.kind AS destination_kind,
                   d.target AS destination_target, d.signing_secret AS destination_secret";

/// An entry a worker has claimed, with what it needs to deliver it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    #[sqlx(try_from = "Uuid")]
    pub tenant_id: TenantId,
    #[sqlx(try_from = "Uuid")]
    pub id: OutboxId,
    #[sqlx(try_from = "Uuid")]
    pub effect_id: EffectId,
    pub event_type: String,
    pub payload: Value,
    pub idempotency_key: String,
    pub attempt: i32,
    pub retry_count: i32,
    #[sqlx(try_from = "Uuid")]
    pub correlation_id: CorrelationId,
    #[sqlx(try_from = "MaybeId")]
    pub causation_id: Option<EventId>,
    pub error_details: Option<Value>,
    pub lease_owner: String,
    pub created_at: DateTime<Utc>,
    pub destination_kind: Option<String>,
    pub destination_target: Option<String>,
    pub destination_secret: Option<String>,
}

/// Where a worker is in its round of the tenants that have due entries.
///
/// Claims take tenants in turns: in tenant-id order, starting after the
/// last tenant the previous claim served and wrapping round to the first.
/// A tenant with a backlog gets a batch per turn like any other, so the
/// others' entries wait for at most one turn of each tenant with due work,
/// never for a backlog to drain (docs/outbox.md, "Taking turns").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    last: Option<TenantId>,
}

impl Rotation {
    /// Moves past the tenants a claim served: the next claim starts after
    /// the last of them in turn order. An empty claim leaves it in place.
    pub fn advance<'a>(&mut self, served: impl IntoIterator<Item = &'a TenantId>) {
        let mut served = served.into_iter().copied().peekable();
        if served.peek().is_none() {
            return;
        }
        let key = self.order();
        self.last = served.max_by_key(key);
    }

    /// A tenant's place in the round from here: those after the last one
    /// served come first, then those up to it, each in id order.
    pub fn order(&self) -> impl Fn(&TenantId) -> (bool, Uuid) {
        let after = self.after();
        move |t| (t.as_uuid() <= after, t.as_uuid())
    }

    /// The bound the walk starts after: no tenant id is nil.
    fn after(&self) -> Uuid {
        self.last.map_or(Uuid::nil(), |t| t.as_uuid())
    }
}

/// How much one claim takes: up to `per_tenant` entries from each of up to
/// `tenants` tenants, so that a backlog gets a whole batch per claim and
/// the quiet tenants' entries ride along with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimSize {
    pub per_tenant: u32,
    pub tenants: u32,
}

impl ClaimSize {
    /// Up to `limit` entries of the one tenant next in turn.
    pub fn one_tenant(limit: u32) -> ClaimSize {
        ClaimSize {
            per_tenant: limit,
            tenants: 1,
        }
    }

    fn per_tenant(self) -> i32 {
        i32::try_from(self.per_tenant).unwrap_or(i32::MAX)
    }

    fn tenants(self) -> i32 {
        i32::try_from(self.tenants).unwrap_or(i32::MAX)
    }
}

/// Claims up to `size.per_tenant` due entries from each of up to
/// `size.tenants` tenants: new ones, retries whose time has come, and
/// in-flight ones whose lease ran out, each tenant's oldest due first. The tenants are the next in
/// turn from `rotation` ([`Rotation`]) whose oldest due entry no other
/// claim holds; the caller then advances the rotation past them. One
/// statement (`outbox_claim_turns`, migration 19): the walk stops at the
/// last tenant served and reads no backlog beyond what it claims. Needs a
/// dispatcher transaction; commit it before delivering.
pub async fn outbox_claim(
    conn: &mut PgConnection,
    rotation: &Rotation,
    owner: &str,
    size: ClaimSize,
    lease_ms: i64,
) -> Result<Vec<Claimed>> {
    Ok(
        sqlx::query_as("SELECT * FROM outbox_claim_turns($1, $2, $3, $4, $5)")
            .bind(size.per_tenant())
            .bind(owner)
            .bind(lease_ms)
            .bind(rotation.after())
            .bind(size.tenants())
            .fetch_all(conn)
            .await?,
    )
}

/// [`outbox_claim`]'s statement under `EXPLAIN (ANALYZE, BUFFERS)`, with
/// the planner settings its function pins: it claims, and returns the plan
/// with what each node read.
#[cfg(feature = "testing")]
pub async fn outbox_claim_explained(
    conn: &mut PgConnection,
    rotation: &Rotation,
    owner: &str,
    size: ClaimSize,
    lease_ms: i64,
) -> Result<Vec<String>> {
    let (body, settings): (String, Vec<String>) = sqlx::query_as(
        "SELECT prosrc, proconfig FROM pg_proc WHERE proname = 'outbox_claim_turns'",
    )
    .fetch_one(&mut *conn)
    .await?;
    for setting in settings {
        let (name, value) = setting.split_once('=').unwrap_or((&setting, ""));
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(name)
            .bind(value)
            .execute(&mut *conn)
            .await?;
    }
    // The function's one statement: after RETURN QUERY, up to its `;`.
    let statement = body
        .split_once("RETURN QUERY")
        .and_then(|(_, rest)| rest.rsplit_once(';'))
        .map(|(statement, _)| statement)
        .ok_or_else(|| crate::StoreError::Internal("outbox_claim_turns has no query".into()))?;
    Ok(sqlx::query_scalar(&format!(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) {statement}"
    ))
    .bind(size.per_tenant())
    .bind(owner)
    .bind(lease_ms)
    .bind(rotation.after())
    .bind(size.tenants())
    .fetch_all(conn)
    .await?)
}

/// The tenants with due entries, in turn order from `rotation`: on Citus,
/// the first step of a claim (a read on every shard; it locks nothing).
pub async fn outbox_due_tenants(
    conn: &mut PgConnection,
    rotation: &Rotation,
    limit: i64,
) -> Result<Vec<TenantId>> {
    let tenants: Vec<Uuid> = sqlx::query_scalar(
        "SELECT tenant_id FROM outbox_events
         WHERE status IN ('PENDING', 'IN_FLIGHT') AND available_at <= now()
         GROUP BY tenant_id
         ORDER BY tenant_id <= $2, tenant_id
         LIMIT $1",
    )
    .bind(limit)
    .bind(rotation.after())
    .fetch_all(conn)
    .await?;
    Ok(tenants.into_iter().map(TenantId::from_uuid).collect())
}

/// [`outbox_claim`] within `tenant`: every table filtered on the tenant, so
/// that Citus routes the whole statement, row locks included, to the
/// tenant's shard.
pub async fn outbox_claim_tenant(
    conn: &mut PgConnection,
    tenant: TenantId,
    owner: &str,
    limit: i64,
    lease_ms: i64,
) -> Result<Vec<Claimed>> {
    Ok(sqlx::query_as(&format!(
        "WITH due AS MATERIALIZED (
             SELECT tenant_id, id, destination_id FROM outbox_events
             WHERE tenant_id = $4 AND status IN ('PENDING', 'IN_FLIGHT') AND available_at <= now()
             ORDER BY available_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
         UPDATE outbox_events o
         {CLAIM}
         FROM due LEFT JOIN effect_destinations d
             ON d.tenant_id = $4 AND d.id = due.destination_id
         WHERE o.tenant_id = $4 AND o.id = due.id
         RETURNING {CLAIMED}"
    ))
    .bind(limit)
    .bind(owner)
    .bind(lease_ms)
    .bind(tenant.as_uuid())
    .fetch_all(conn)
    .await?)
}

/// How an attempt ends for the entry.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub status: OutboxStatus,
    pub retry_count: i32,
    /// For a retry: when it is due.
    pub next_retry_at: Option<DateTime<Utc>>,
    pub error_details: Option<Value>,
}

/// Settles entries, each for the attempt it names, if `owner` still holds
/// that attempt; returns those it settled (the ids named to the primary key
/// as well as joined: left to its generic plan, the statement read the
/// tenant's every open entry, a backlog, to settle 32). An entry missing from the answer
/// is stale (its lease ran out and it was claimed again, or an operator
/// acted): nothing was changed for it. Each comes with where its effect
/// stood (read, not locked: an effect that moves before the caller records
/// the outcome is a version conflict there), and with them the entries it
/// closed (delivered or dead-lettered), for the tenant's pending counts.
pub async fn outbox_settle(
    conn: &mut PgConnection,
    tenant: TenantId,
    owner: &str,
    items: &[(OutboxId, EffectId, i32, Settlement)],
) -> Result<(Vec<(OutboxEntry, EffectAt)>, PendingMove)> {
    let ids: Vec<Uuid> = items.iter().map(|i| i.0.as_uuid()).collect();
    let effects: Vec<Uuid> = items.iter().map(|i| i.1.as_uuid()).collect();
    let attempts: Vec<i32> = items.iter().map(|i| i.2).collect();
    let statuses: Vec<&str> = items.iter().map(|i| i.3.status.as_str()).collect();
    let retries: Vec<i32> = items.iter().map(|i| i.3.retry_count).collect();
    let next: Vec<Option<DateTime<Utc>>> = items.iter().map(|i| i.3.next_retry_at).collect();
    let errors: Vec<Option<Value>> = items.iter().map(|i| i.3.error_details.clone()).collect();
    let rows: Vec<SettledRow> = sqlx::query_as(&format!(
        "UPDATE outbox_events o
         SET status = s.status, retry_count = s.retry_count, next_retry_at = s.next_retry_at,
             error_details = s.error_details,
             -- the schedule trigger sets both due and delivery times
             -- from the new status (migrations 7 and 15)
             available_at = NULL,
             lease_owner = NULL, lease_expires_at = NULL
         FROM unnest($3::uuid[], $4::int[], $5::text[], $6::int[], $7::timestamptz[], $8::jsonb[])
              AS s (id, attempt, status, retry_count, next_retry_at, error_details),
              effects e
         WHERE o.tenant_id = $1 AND o.id = ANY($3) AND o.id = s.id AND o.status = 'IN_FLIGHT'
           AND o.attempt = s.attempt AND o.lease_owner = $2
           AND e.tenant_id = $1 AND e.id = ANY($9) AND e.id = o.aggregate_id
         RETURNING {COLUMNS}, o.payload_bytes, e.status AS effect_status,
                   e.version AS effect_version, e.correlation_id AS effect_correlation_id,
                   e.causation_id AS effect_causation_id"
    ))
    .bind(tenant.as_uuid())
    .bind(owner)
    .bind(&ids)
    .bind(&attempts)
    .bind(&statuses)
    .bind(&retries)
    .bind(&next)
    .bind(&errors)
    .bind(&effects)
    .fetch_all(conn)
    .await?;
    let mut closed = PendingMove::default();
    for row in &rows {
        if matches!(
            row.sized.entry.status,
            OutboxStatus::Delivered | OutboxStatus::DeadLetter
        ) {
            closed.effects -= 1;
            closed.bytes -= row.sized.bytes();
        }
    }
    let settled = rows
        .into_iter()
        .map(|r| (r.sized.entry, r.effect))
        .collect();
    Ok((settled, closed))
}

#[derive(sqlx::FromRow)]
struct SettledRow {
    #[sqlx(flatten)]
    sized: SizedEntry,
    #[sqlx(flatten)]
    effect: EffectAt,
}

/// An entry as a statement that opens or closes it returns it, with the
/// size its tenant's pending bytes count for it (NULL, counted as 0, for
/// an entry delivered before migration 24 and reopened since by hand).
#[derive(sqlx::FromRow)]
struct SizedEntry {
    #[sqlx(flatten)]
    entry: OutboxEntry,
    payload_bytes: Option<i32>,
}

impl SizedEntry {
    fn bytes(&self) -> i64 {
        self.payload_bytes.map_or(0, i64::from)
    }
}

/// An outbox entry as operators see it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxEntry {
    #[sqlx(try_from = "Uuid")]
    pub id: OutboxId,
    #[sqlx(try_from = "Uuid")]
    pub effect_id: EffectId,
    pub event_type: String,
    pub idempotency_key: String,
    #[sqlx(try_from = "String")]
    pub status: OutboxStatus,
    pub attempt: i32,
    pub retry_count: i32,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub error_details: Option<Value>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Uuid")]
    pub correlation_id: CorrelationId,
    pub created_at: DateTime<Utc>,
}

/// Qualified by `o`: every query that reads entries calls the table `o`,
/// which also keeps them apart from an `UPDATE ... FROM` source's columns.
pub(crate) const COLUMNS: &str =
    "o.id, o.aggregate_id AS effect_id, o.event_type, o.idempotency_key, o.status, o.attempt, \
     o.retry_count, o.next_retry_at, o.error_details, o.lease_owner, o.lease_expires_at, \
     o.delivered_at, o.correlation_id, o.created_at";

pub async fn outbox_fetch(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: OutboxId,
) -> Result<Option<OutboxEntry>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM outbox_events o WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?)
}

/// Newest first, optionally of one status.
pub async fn outbox_list(
    conn: &mut PgConnection,
    tenant: TenantId,
    status: Option<OutboxStatus>,
    limit: i64,
) -> Result<Vec<OutboxEntry>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM outbox_events o
         WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(tenant.as_uuid())
    .bind(status.map(|s| s.as_str()))
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// A dead letter back to PENDING, due now, with its attempts reset (the
/// walkthrough's requeue). None unless the entry is a dead letter.
///
/// The wake-up is a statement of its own here, not [`WAKE_WORKERS`] joined:
/// on Citus an UPDATE of one shard with that subquery beside it is routed
/// whole to the tenant's worker node, whose NOTIFY no worker hears and
/// which refuses to commit it in two phases ("cannot PREPARE a transaction
/// that has executed NOTIFY"). A statement that reads no table runs on the
/// coordinator, where the workers listen.
pub async fn outbox_requeue(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: OutboxId,
) -> Result<Option<(OutboxEntry, PendingMove)>> {
    let requeued: Option<SizedEntry> = sqlx::query_as(&format!(
        "UPDATE outbox_events o
         SET status = 'PENDING', attempt = 0, retry_count = 0, next_retry_at = NULL,
             available_at = now()
         WHERE tenant_id = $1 AND id = $2 AND status = 'DEAD_LETTER'
         RETURNING {COLUMNS}, o.payload_bytes"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = requeued else {
        return Ok(None);
    };
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(OUTBOX_CHANNEL)
        .execute(conn)
        .await?;
    let opened = PendingMove {
        effects: 1,
        bytes: row.bytes(),
    };
    Ok(Some((row.entry, opened)))
}

/// Deletes delivered entries older than `before`, a bounded chunk at a
/// time so that no statement holds many locks, in every tenant but those
/// of `except` (which keep theirs by a retention of their own); returns
/// how many went.
/// Needs a dispatcher connection (retention spans tenants). Dead letters
/// and the event log are never purged.
pub async fn outbox_purge_chunk(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
    chunk: i64,
    except: &[TenantId],
) -> Result<u64> {
    let except: Vec<Uuid> = except.iter().map(|t| t.as_uuid()).collect();
    let done = sqlx::query(
        "DELETE FROM outbox_events o
         USING (SELECT tenant_id, id FROM outbox_events
                WHERE status = 'DELIVERED' AND delivered_at < $1 AND tenant_id <> ALL($3)
                LIMIT $2) old
         WHERE o.tenant_id = old.tenant_id AND o.id = old.id",
    )
    .bind(before)
    .bind(chunk)
    .bind(except)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The tenant's share of [`outbox_purge_chunk`], under its row-level
/// security context: an operator of one tenant purges only its entries.
pub async fn outbox_purge_tenant_chunk(
    conn: &mut PgConnection,
    tenant: TenantId,
    before: DateTime<Utc>,
    chunk: i64,
) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM outbox_events o
         USING (SELECT id FROM outbox_events
                WHERE tenant_id = $1 AND status = 'DELIVERED' AND delivered_at < $2 LIMIT $3) old
         WHERE o.tenant_id = $1 AND o.id = old.id",
    )
    .bind(tenant.as_uuid())
    .bind(before)
    .bind(chunk)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_wake_up_notifies_the_channel_workers_listen_on() {
        assert!(super::WAKE_WORKERS.contains(&format!("'{}'", super::OUTBOX_CHANNEL)));
    }
}
