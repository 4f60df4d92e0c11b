//! How deep the outbox is: a tenant's entries by status, the plane's
//! tenants with the most open entries, and the leases other workers hold.
//! What operators read (`pplane outbox stats`, the console, the metrics);
//! nothing here writes.

use chrono::{DateTime, Utc};
use pplane_domain::TenantId;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxStats {
    pub pending: i64,
    pub in_flight: i64,
    pub delivered: i64,
    pub dead_letter: i64,
    /// Entries whose time has come but that no worker has taken yet.
    pub due: i64,
    /// How long the oldest of those has waited, in seconds.
    pub oldest_due_age_s: Option<f64>,
}

/// How many entries other lease owners than `owner` hold IN_FLIGHT under a
/// lease that has not expired. Needs a dispatcher connection.
pub async fn outbox_leases_held(conn: &mut PgConnection, owner: &str) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox_events
         WHERE status = 'IN_FLIGHT' AND lease_expires_at > now() AND lease_owner <> $1",
    )
    .bind(owner)
    .fetch_one(conn)
    .await?;
    Ok(n as u64)
}

/// Depth by status and the oldest due entry, of one tenant (in its
/// transaction) or of the whole plane (in a dispatcher transaction).
pub async fn outbox_stats(
    conn: &mut PgConnection,
    tenant: Option<TenantId>,
) -> Result<OutboxStats> {
    let row: (i64, i64, i64, i64, i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'PENDING'),
                count(*) FILTER (WHERE status = 'IN_FLIGHT'),
                count(*) FILTER (WHERE status = 'DELIVERED'),
                count(*) FILTER (WHERE status = 'DEAD_LETTER'),
                count(*) FILTER (WHERE status IN ('PENDING', 'IN_FLIGHT') AND available_at <= now()),
                extract(epoch FROM now() - min(available_at)
                        FILTER (WHERE status IN ('PENDING', 'IN_FLIGHT') AND available_at <= now()))::float8
         FROM outbox_events WHERE $1::uuid IS NULL OR tenant_id = $1",
    )
    .bind(tenant.map(|t| t.as_uuid()))
    .fetch_one(conn)
    .await?;
    Ok(OutboxStats {
        pending: row.0,
        in_flight: row.1,
        delivered: row.2,
        dead_letter: row.3,
        due: row.4,
        oldest_due_age_s: row.5,
    })
}

/// One tenant's open entries, as an operator compares tenants.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TenantBacklog {
    #[sqlx(try_from = "Uuid")]
    pub tenant_id: TenantId,
    pub pending: i64,
    pub in_flight: i64,
    /// Entries whose time has come but that no worker has taken yet.
    pub due: i64,
    /// How long the tenant's oldest due entry has waited, in seconds.
    pub oldest_due_age_s: Option<f64>,
}

/// The `top` tenants with the most open entries (then the longest
/// waiting), read through the index of open entries only: delivered
/// history is never scanned. Needs a dispatcher transaction.
pub async fn outbox_backlogs(conn: &mut PgConnection, top: i64) -> Result<Vec<TenantBacklog>> {
    Ok(sqlx::query_as(
        "SELECT tenant_id,
                count(*) FILTER (WHERE status = 'PENDING') AS pending,
                count(*) FILTER (WHERE status = 'IN_FLIGHT') AS in_flight,
                count(*) FILTER (WHERE available_at <= now()) AS due,
                extract(epoch FROM now() - min(available_at)
                        FILTER (WHERE available_at <= now()))::float8 AS oldest_due_age_s
         FROM outbox_events
         WHERE status IN ('PENDING', 'IN_FLIGHT')
         GROUP BY tenant_id
         ORDER BY count(*) DESC, oldest_due_age_s DESC NULLS LAST, tenant_id
         LIMIT $1",
    )
    .bind(top)
    .fetch_all(conn)
    .await?)
}

/// Deliveries of the last hour in 5-minute buckets, oldest first, each
/// bucket present (0 when nothing went out). The buckets end at the next
/// whole 5 minutes after now.
pub async fn outbox_deliveries_since(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<Vec<(DateTime<Utc>, i64)>> {
    Ok(sqlx::query_as(
        "WITH edge AS (SELECT date_bin('5 minutes', now(), 'epoch') + interval '5 minutes' AS t),
              buckets AS (SELECT generate_series(t - interval '60 minutes', t - interval '5 minutes',
                                                 interval '5 minutes') AS start FROM edge)
         SELECT b.start, count(o.id)
         FROM buckets b
         LEFT JOIN outbox_events o
           ON o.tenant_id = $1 AND o.status = 'DELIVERED'
          AND o.delivered_at >= b.start AND o.delivered_at < b.start + interval '5 minutes'
         GROUP BY b.start ORDER BY b.start",
    )
    .bind(tenant.as_uuid())
    .fetch_all(conn)
    .await?)
}

/// Entries by tenant and status, for every tenant that has any (in a
/// dispatcher transaction).
pub async fn outbox_depth_by_tenant(
    conn: &mut PgConnection,
) -> Result<Vec<(TenantId, String, i64)>> {
    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT tenant_id, status, count(*) FROM outbox_events GROUP BY tenant_id, status
         ORDER BY tenant_id, status",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(t, status, n)| (TenantId::from_uuid(t), status, n))
        .collect())
}
