//! Reading runs: one run with its steps in order and its latest checkpoint;
//! a tenant's runs in pages, filtered, for the console.

use chrono::{DateTime, Utc};
use pplane_domain::{CorrelationId, RunId, RunStatus, SignalId};
use serde::Serialize;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::operations::runs::run_get;
use crate::repositories::checkpoints::checkpoint_latest;
pub use crate::repositories::checkpoints::Checkpoint;
pub use crate::repositories::runs::Run;
use crate::repositories::steps::steps_of_run;
pub use crate::repositories::steps::Step;
pub use crate::repositories::tool_calls::ToolCall;
use crate::{Result, TenantTx};

/// A run as an orchestrator resumes it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunView {
    pub run: Run,
    pub steps: Vec<Step>,
    pub checkpoint: Option<Checkpoint>,
}

/// The run with its steps in order and its latest checkpoint; NotFound when
/// the tenant has no such run.
pub async fn run_view(tx: &mut TenantTx, id: RunId) -> Result<RunView> {
    let run = run_get(tx, id).await?;
    let tenant = tx.tenant();
    let steps = steps_of_run(tx.conn(), tenant, id).await?;
    let checkpoint = checkpoint_latest(tx.conn(), tenant, id).await?;
    Ok(RunView {
        run,
        steps,
        checkpoint,
    })
}

/// The largest page [`runs_page`] returns.
pub const RUN_PAGE_MAX: i64 = 200;

/// What a runs page shows: every filter is optional; all given must hold.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    /// Runs created at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Runs created before this instant.
    pub until: Option<DateTime<Utc>>,
    pub correlation: Option<CorrelationId>,
    /// A run id or correlation id (a UUID), or the start of a signal's
    /// source id (anything else).
    pub search: Option<String>,
}

/// Where a page starts, by run id: runs ids are UUIDv7, so they sort by the
/// time the run was created.
#[derive(Debug, Clone, Copy)]
pub enum RunCursor {
    /// The newest runs.
    Newest,
    /// The runs just older than this one.
    Before(RunId),
    /// The runs just newer than this one (still listed newest first).
    After(RunId),
}

/// One line of the runs list: the run, where it came from, its steps counted.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunSummary {
    #[sqlx(try_from = "Uuid")]
    pub id: RunId,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    #[sqlx(try_from = "Uuid")]
    pub correlation_id: CorrelationId,
    #[sqlx(try_from = "Uuid")]
    pub signal_id: SignalId,
    pub channel: String,
    pub source_id: String,
    pub received_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub steps: i64,
    pub steps_completed: i64,
    pub steps_failed: i64,
    /// Retries over all its steps.
    pub retries: i64,
}

/// A page of the tenant's runs, newest first, at most `limit` (1 to
/// [`RUN_PAGE_MAX`]). Every filter narrows an index range (the primary key,
/// `runs_status_idx`, `runs_correlation_idx`, `signals_source_id_idx`), and
/// each run's steps are counted through `steps_run_index_key`.
pub async fn runs_page(
    tx: &mut TenantTx,
    filter: &RunFilter,
    cursor: RunCursor,
    limit: i64,
) -> Result<Vec<RunSummary>> {
    if !(1..=RUN_PAGE_MAX).contains(&limit) {
        return Err(crate::StoreError::InvalidInput(format!(
            "limit must be 1 to {RUN_PAGE_MAX}"
        )));
    }
    let tenant = tx.tenant();
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT * FROM (SELECT r.id, r.status, r.correlation_id, r.signal_id,
                s.source_channel AS channel, s.source_id, s.received_at,
                r.started_at, r.finished_at,
                k.steps, k.steps_completed, k.steps_failed, k.retries
         FROM runs r
         JOIN signals s ON s.tenant_id = r.tenant_id AND s.id = r.signal_id
         CROSS JOIN LATERAL (
             SELECT count(*) AS steps,
                    count(*) FILTER (WHERE st.status = 'COMPLETED') AS steps_completed,
                    count(*) FILTER (WHERE st.status = 'FAILED') AS steps_failed,
                    coalesce(sum(st.retry_count), 0)::int8 AS retries
             FROM steps st WHERE st.tenant_id = r.tenant_id AND st.run_id = r.id) k
         WHERE r.tenant_id = ",
    );
    q.push_bind(tenant.as_uuid());
    if let Some(status) = filter.status {
        q.push(" AND r.status = ").push_bind(status.as_str());
    }
    if let Some(since) = filter.since {
        q.push(" AND r.id >= ").push_bind(v7_floor(since));
    }
    if let Some(until) = filter.until {
        q.push(" AND r.id < ").push_bind(v7_floor(until));
    }
    if let Some(correlation) = filter.correlation {
        q.push(" AND r.correlation_id = ")
            .push_bind(correlation.as_uuid());
    }
    match filter.search.as_deref().map(str::trim) {
        None | Some("") => {}
        Some(text) => match text.parse::<Uuid>() {
            Ok(id) => {
                q.push(" AND (r.id = ").push_bind(id);
                q.push(" OR r.correlation_id = ").push_bind(id).push(")");
            }
            Err(_) => {
                q.push(" AND s.source_id LIKE ")
                    .push_bind(like_prefix(text));
            }
        },
    }
    let newest_first = match cursor {
        RunCursor::Newest => true,
        RunCursor::Before(id) => {
            q.push(" AND r.id < ").push_bind(id.as_uuid());
            true
        }
        RunCursor::After(id) => {
            q.push(" AND r.id > ").push_bind(id.as_uuid());
            false
        }
    };
    q.push(if newest_first {
        " ORDER BY r.id DESC LIMIT "
    } else {
        " ORDER BY r.id ASC LIMIT "
    });
    q.push_bind(limit);
    q.push(") page ORDER BY id DESC");
    Ok(q.build_query_as().fetch_all(tx.conn()).await?)
}

/// The smallest UUIDv7 made at `at`: its millisecond timestamp, then zeros.
fn v7_floor(at: DateTime<Utc>) -> Uuid {
    let ms = at.timestamp_millis().clamp(0, (1 << 48) - 1) as u128;
    Uuid::from_u128(ms << 80)
}

/// `text%`, with LIKE's own wildcards in `text` taken literally.
fn like_prefix(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
