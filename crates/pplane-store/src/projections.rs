//! Projections: read models derived from the runtime tables and the event
//! log, expendable by design (rule 6). Today one, `run_summary` (migration
//! 8): each run with its step totals per status, retries and duration.
//!
//! **Business code never reads a projection.** A projection lags the
//! runtime tables by up to one refresh; decisions read the runtime tables
//! through the repositories. Dashboards and operators read projections.
//!
//! Both commands write as the login, which must see every tenant (a
//! superuser or a BYPASSRLS operator), and in one transaction, so readers
//! never wait on them and never see a projection half-built:
//! - [`projections_refresh`] brings `run_summary` up to date from the
//!   runtime tables (upsert what changed, delete what is gone).
//! - [`projections_rebuild`] replays the event log into a fresh projection,
//!   proves it equal to what the runtime tables say, and only then replaces
//!   the table's contents with it.

use serde::Serialize;
use sqlx::Connection;

use crate::repositories::events::implied_status_values;
use crate::{Admin, Result, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct Refreshed {
    pub rows: i64,
    pub removed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rebuilt {
    /// Runs in the replayed projection.
    pub rows: i64,
    /// Runs where the replay and the runtime tables disagree (empty: equal,
    /// and the projection was replaced).
    pub mismatches: Vec<String>,
}

const COLUMNS: &str = "tenant_id, run_id, correlation_id, status, started_at, finished_at, \
     duration_ms, steps_total, steps_pending, steps_running, steps_completed, steps_failed, \
     steps_skipped, steps_cancelled, retries";

/// `run_summary` as the runtime tables say it is.
const FROM_TABLES: &str = "
    SELECT r.tenant_id, r.id, r.correlation_id, r.status, r.started_at, r.finished_at,
           extract(epoch FROM r.finished_at - r.started_at) * 1000,
           count(s.id)::int,
           (count(s.id) FILTER (WHERE s.status = 'PENDING'))::int,
           (count(s.id) FILTER (WHERE s.status = 'RUNNING'))::int,
           (count(s.id) FILTER (WHERE s.status = 'COMPLETED'))::int,
           (count(s.id) FILTER (WHERE s.status = 'FAILED'))::int,
           (count(s.id) FILTER (WHERE s.status = 'SKIPPED'))::int,
           (count(s.id) FILTER (WHERE s.status = 'CANCELLED'))::int,
           coalesce(sum(s.retry_count), 0)::int
    FROM runs r LEFT JOIN steps s ON s.tenant_id = r.tenant_id AND s.run_id = r.id
    GROUP BY r.tenant_id, r.id";

/// `run_summary` replayed from the event log alone: a run's status is what
/// its last event implies, its times those of its start and end events, a
/// step belongs to the run its STEP_SCHEDULED names.
fn from_events() -> String {
    format!(
        "WITH implied (event_type, status) AS (VALUES {}),
         run_last AS (
             SELECT DISTINCT ON (tenant_id, aggregate_id) tenant_id, aggregate_id AS run_id,
                    correlation_id, event_type
             FROM orchestration_events WHERE aggregate_type = 'RUN'
             ORDER BY tenant_id, aggregate_id, sequence_number DESC),
         run_times AS (
             SELECT tenant_id, aggregate_id AS run_id,
                    max(occurred_at) FILTER (WHERE event_type = 'RUN_STARTED') AS started_at,
                    max(occurred_at) FILTER (WHERE event_type IN ('RUN_COMPLETED', 'RUN_FAILED',
                                                                  'RUN_CANCELLED')) AS finished_at
             FROM orchestration_events WHERE aggregate_type = 'RUN'
             GROUP BY tenant_id, aggregate_id),
         step_run AS (
             SELECT tenant_id, aggregate_id AS step_id, (event_data ->> 'run_id')::uuid AS run_id
             FROM orchestration_events WHERE event_type = 'STEP_SCHEDULED'),
         step_last AS (
             SELECT DISTINCT ON (tenant_id, aggregate_id) tenant_id, aggregate_id AS step_id, event_type
             FROM orchestration_events WHERE aggregate_type = 'STEP'
             ORDER BY tenant_id, aggregate_id, sequence_number DESC),
         step_retries AS (
             SELECT tenant_id, aggregate_id AS step_id, count(*) AS n
             FROM orchestration_events WHERE event_type = 'STEP_RETRY_SCHEDULED'
             GROUP BY tenant_id, aggregate_id),
         steps AS (
             SELECT sr.tenant_id, sr.run_id, i.status, coalesce(rt.n, 0) AS retries
             FROM step_run sr
             JOIN step_last sl ON sl.tenant_id = sr.tenant_id AND sl.step_id = sr.step_id
             JOIN implied i ON i.event_type = sl.event_type
             LEFT JOIN step_retries rt ON rt.tenant_id = sr.tenant_id AND rt.step_id = sr.step_id)
         SELECT r.tenant_id, r.run_id, r.correlation_id, i.status, t.started_at, t.finished_at,
                extract(epoch FROM t.finished_at - t.started_at) * 1000,
                count(s.run_id)::int,
                (count(s.run_id) FILTER (WHERE s.status = 'PENDING'))::int,
                (count(s.run_id) FILTER (WHERE s.status = 'RUNNING'))::int,
                (count(s.run_id) FILTER (WHERE s.status = 'COMPLETED'))::int,
                (count(s.run_id) FILTER (WHERE s.status = 'FAILED'))::int,
                (count(s.run_id) FILTER (WHERE s.status = 'SKIPPED'))::int,
                (count(s.run_id) FILTER (WHERE s.status = 'CANCELLED'))::int,
                coalesce(sum(s.retries), 0)::int
         FROM run_last r
         JOIN implied i ON i.event_type = r.event_type
         JOIN run_times t ON t.tenant_id = r.tenant_id AND t.run_id = r.run_id
         LEFT JOIN steps s ON s.tenant_id = r.tenant_id AND s.run_id = r.run_id
         GROUP BY r.tenant_id, r.run_id, r.correlation_id, i.status, t.started_at, t.finished_at",
        implied_status_values()
    )
}

pub async fn projections_refresh(admin: &mut Admin) -> Result<Refreshed> {
    sees_every_tenant(admin).await?;
    let conn = admin.conn();
    let mut tx = conn.begin().await?;
    // A prepared statement, not raw_sql: the scheduled jobs run this in a
    // spawned task, and raw_sql's future is not provably Send there.
    sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    sqlx::query(&format!(
        "INSERT INTO run_summary ({COLUMNS}) {FROM_TABLES}
         ON CONFLICT (tenant_id, run_id) DO UPDATE SET
             status = EXCLUDED.status, started_at = EXCLUDED.started_at,
             finished_at = EXCLUDED.finished_at, duration_ms = EXCLUDED.duration_ms,
             steps_total = EXCLUDED.steps_total, steps_pending = EXCLUDED.steps_pending,
             steps_running = EXCLUDED.steps_running, steps_completed = EXCLUDED.steps_completed,
             steps_failed = EXCLUDED.steps_failed, steps_skipped = EXCLUDED.steps_skipped,
             steps_cancelled = EXCLUDED.steps_cancelled, retries = EXCLUDED.retries
         WHERE (run_summary.status, run_summary.finished_at, run_summary.steps_total,
                run_summary.steps_completed, run_summary.steps_failed, run_summary.retries,
                run_summary.steps_running, run_summary.steps_pending)
               IS DISTINCT FROM
               (EXCLUDED.status, EXCLUDED.finished_at, EXCLUDED.steps_total,
                EXCLUDED.steps_completed, EXCLUDED.steps_failed, EXCLUDED.retries,
                EXCLUDED.steps_running, EXCLUDED.steps_pending)"
    ))
    .execute(&mut *tx)
    .await?;
    let removed = sqlx::query(
        "DELETE FROM run_summary p WHERE NOT EXISTS (
             SELECT 1 FROM runs r WHERE r.tenant_id = p.tenant_id AND r.id = p.run_id)",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let rows = sqlx::query_scalar("SELECT count(*) FROM run_summary")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Refreshed { rows, removed })
}

pub async fn projections_rebuild(admin: &mut Admin) -> Result<Rebuilt> {
    sees_every_tenant(admin).await?;
    let conn = admin.conn();
    let mut tx = conn.begin().await?;
    sqlx::raw_sql("SET LOCAL jit = off")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(&format!(
        "CREATE TEMP TABLE run_summary_replay ON COMMIT DROP AS
             SELECT * FROM ({}) q ({COLUMNS});
         CREATE TEMP TABLE run_summary_tables ON COMMIT DROP AS
             SELECT * FROM ({FROM_TABLES}) q ({COLUMNS});",
        from_events()
    ))
    .execute(&mut *tx)
    .await?;
    let mismatches: Vec<String> = sqlx::query_scalar(
        "SELECT 'run ' || id || ': ' || side FROM (
             (SELECT r.run_id AS id, 'the log says ' || r.status || ', '
                     || r.steps_total || ' steps, ' || r.retries || ' retries' AS side
              FROM (SELECT * FROM run_summary_replay EXCEPT SELECT * FROM run_summary_tables) r)
             UNION ALL
             (SELECT t.run_id, 'the tables say ' || t.status || ', ' || t.steps_total
                     || ' steps, ' || t.retries || ' retries'
              FROM (SELECT * FROM run_summary_tables EXCEPT SELECT * FROM run_summary_replay) t)
         ) d ORDER BY 1 LIMIT 50",
    )
    .fetch_all(&mut *tx)
    .await?;
    let rows = sqlx::query_scalar("SELECT count(*) FROM run_summary_replay")
        .fetch_one(&mut *tx)
        .await?;
    if mismatches.is_empty() {
        sqlx::raw_sql(&format!(
            "DELETE FROM run_summary;
             INSERT INTO run_summary ({COLUMNS}) SELECT * FROM run_summary_replay;"
        ))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(Rebuilt { rows, mismatches })
}

/// Projections span tenants: refusing a login that row-level security
/// would show only part of them, rather than building a partial projection.
/// Projections need the current schema and a login that sees every tenant.
async fn sees_every_tenant(admin: &mut Admin) -> Result<()> {
    admin.schema_verify().await?;
    if admin.sees_every_tenant().await? {
        Ok(())
    } else {
        Err(StoreError::OperatorLoginRequired("projections"))
    }
}

/// One row of `run_summary`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunSummary {
    #[sqlx(try_from = "uuid::Uuid")]
    pub run_id: pplane_domain::RunId,
    #[sqlx(try_from = "String")]
    pub status: pplane_domain::RunStatus,
    pub duration_ms: Option<f64>,
    pub steps_total: i32,
    pub steps_completed: i32,
    pub steps_failed: i32,
    pub retries: i32,
}

/// The active tenant's run summaries, newest run first: for dashboards and
/// operators, never for decisions (see the module's rule).
pub async fn run_summaries(tx: &mut crate::TenantTx, limit: i64) -> Result<Vec<RunSummary>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT run_id, status, duration_ms, steps_total, steps_completed, steps_failed, retries
         FROM run_summary WHERE tenant_id = $1 ORDER BY run_id DESC LIMIT $2",
    )
    .bind(tenant.as_uuid())
    .bind(limit)
    .fetch_all(tx.conn())
    .await?)
}
