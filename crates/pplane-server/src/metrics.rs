//! `GET /metrics`: the plane's metrics in Prometheus text format, from the
//! `metrics` facade rendered by `metrics-exporter-prometheus`.
//!
//! Each request is counted by route template, method and status, and timed
//! (`pplane_http_requests_total`, `pplane_http_request_duration_seconds`);
//! route templates, never ids, so label values stay bounded. The outbox's
//! depth is read from the database when Prometheus scrapes (plane-wide, as
//! the dispatcher sees it; no tenant ids): `pplane_outbox_entries{status}`,
//! `pplane_outbox_oldest_due_age_seconds`, and `pplane_outbox_stats_up`,
//! 0 when this login cannot read them; and the scheduled jobs' health
//! (`pplane_job_interval_seconds`, `pplane_job_enabled`,
//! `pplane_job_last_success_timestamp_seconds`, `pplane_job_last_run_failed`,
//! each by `name`: a label `job` would clash with Prometheus's own). With `--metrics-per-tenant` also
//! `pplane_outbox_tenant_entries{tenant,status}`, and for the
//! [`BACKLOG_TENANTS`] tenants with the most open entries
//! `pplane_outbox_tenant_due{tenant}` and
//! `pplane_outbox_tenant_oldest_due_age_seconds{tenant}`: tenant ids as
//! label values, series per tenant, hence off by default.
//!
//! The store records event appends, the worker its claims, leases,
//! deliveries by outcome and commit-to-delivery latency (histograms:
//! requests and appends in buckets from 1 ms to 10 s, deliveries up to 30
//! minutes).
//!
//! The recorder is the process's global one, installed once: several
//! servers in one process (the tests) share it. A program that embeds the
//! server and installs its own recorder first sees its own there instead.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use pplane_store::queries::jobs::job_health;
use pplane_store::queries::outbox::{
    outbox_backlog_tenants, outbox_depth_tenants, outbox_stats_plane, TenantBacklog,
};
use pplane_store::Store;

use crate::session::AppState;

/// Request durations, in seconds: 1 ms to 10 s (the walkthrough's 10 ms
/// append target and 100 ms query target fall on bucket bounds).
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Whether the scrape also reports each tenant's outbox depth
/// (`pplane serve --metrics-per-tenant`): one series per tenant and status,
/// so off by default.
static PER_TENANT: AtomicBool = AtomicBool::new(false);

/// How many tenants, most open entries first, report their due entries and
/// oldest due age when per-tenant metrics are on.
pub const BACKLOG_TENANTS: i64 = 20;

/// Turns per-tenant outbox depth on for this process's scrapes.
pub fn per_tenant_enable() {
    PER_TENANT.store(true, Ordering::Relaxed);
}

/// Commit-to-delivery, in seconds: from 10 ms to a retried entry's minutes.
const DELIVERY_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0, 1800.0,
];

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&DURATION_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("pplane_outbox_delivery_latency_seconds".into()),
                    &DELIVERY_BUCKETS,
                )
            })
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "a metrics recorder was installed before pplane's: /metrics shows only the outbox"
            );
        }
        describe();
        handle
    })
}

/// HELP lines for what the store, the worker and this server record.
fn describe() {
    use metrics::Unit::Seconds;
    metrics::describe_counter!(
        "pplane_event_appends_total",
        "Events appended, by path: statement (in a caller's transaction) or group_commit"
    );
    metrics::describe_histogram!(
        "pplane_event_append_duration_seconds",
        Seconds,
        "Time of one append: the statement, or the group commit's whole transaction"
    );
    metrics::describe_counter!(
        "pplane_outbox_claims_total",
        "Claims by this process's workers that took at least one entry"
    );
    metrics::describe_counter!(
        "pplane_outbox_claimed_entries_total",
        "Outbox entries claimed by this process's workers"
    );
    metrics::describe_gauge!(
        "pplane_outbox_leases_held",
        "Entries this process's workers hold under a lease right now"
    );
    metrics::describe_counter!(
        "pplane_outbox_deliveries_total",
        "Delivery attempts settled, by outcome: delivered, retry, dead_letter, stale"
    );
    metrics::describe_histogram!(
        "pplane_outbox_delivery_latency_seconds",
        Seconds,
        "From an effect's request (its commit) to its delivery being recorded"
    );
    metrics::describe_counter!(
        "pplane_http_requests_total",
        "HTTP requests answered, by route template, method and status"
    );
    metrics::describe_histogram!(
        "pplane_http_request_duration_seconds",
        Seconds,
        "Time to answer an HTTP request, by route template and method"
    );
    metrics::describe_gauge!(
        "pplane_outbox_entries",
        "Outbox entries by status, plane-wide, as of the last scrape"
    );
    metrics::describe_gauge!(
        "pplane_outbox_oldest_due_age_seconds",
        Seconds,
        "How long the oldest due entry nobody holds has waited (0 when none)"
    );
    metrics::describe_gauge!(
        "pplane_outbox_tenant_entries",
        "Outbox entries by tenant and status (only with --metrics-per-tenant)"
    );
    metrics::describe_gauge!(
        "pplane_outbox_tenant_due",
        "Due entries of the tenants with the most open entries (only with --metrics-per-tenant)"
    );
    metrics::describe_gauge!(
        "pplane_outbox_tenant_oldest_due_age_seconds",
        Seconds,
        "How long each of those tenants' oldest due entry has waited (only with --metrics-per-tenant)"
    );
    metrics::describe_gauge!(
        "pplane_outbox_stats_up",
        "1 when the last scrape could read the outbox, 0 when this login cannot"
    );
    metrics::describe_gauge!(
        "pplane_job_interval_seconds",
        Seconds,
        "Each scheduled job's interval (docs/jobs.md)"
    );
    metrics::describe_gauge!(
        "pplane_job_enabled",
        "1 when a scheduled job runs on its schedule, 0 when it is disabled"
    );
    metrics::describe_gauge!(
        "pplane_job_last_success_timestamp_seconds",
        Seconds,
        "When each job's newest successful run started, as a Unix time (0 if never)"
    );
    metrics::describe_gauge!(
        "pplane_job_last_run_failed",
        "1 when a job's newest finished run failed"
    );
}

/// Counts and times every request by its route template.
pub async fn track(request: Request, next: Next) -> Response {
    // A route layer: only matched routes come here, each with its template.
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return next.run(request).await;
    };
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("pplane_http_request_duration_seconds",
        "route" => route.clone(), "method" => method.clone())
    .record(started.elapsed().as_secs_f64());
    metrics::counter!("pplane_http_requests_total",
        "route" => route, "method" => method, "status" => status)
    .increment(1);
    response
}

/// The scrape: the outbox read now, then everything recorded.
pub async fn scrape(State(state): State<AppState>) -> Response {
    let handle = handle();
    outbox_gauges(&state.store).await;
    job_gauges(&state.store).await;
    handle.run_upkeep();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
        .into_response()
}

async fn outbox_gauges(store: &Store) {
    let per_tenant = PER_TENANT.load(Ordering::Relaxed);
    let read = async {
        let mut tx = store.dispatch_tx().await?;
        let stats = outbox_stats_plane(&mut tx).await?;
        let (tenants, backlogs) = if per_tenant {
            (
                outbox_depth_tenants(&mut tx).await?,
                outbox_backlog_tenants(&mut tx, BACKLOG_TENANTS).await?,
            )
        } else {
            Default::default()
        };
        tx.commit().await?;
        Ok::<_, pplane_store::StoreError>((stats, tenants, backlogs))
    };
    match read.await {
        Ok((stats, tenants, backlogs)) => {
            tenant_gauges(&tenants);
            backlog_gauges(&backlogs);
            for (status, n) in [
                ("pending", stats.pending),
                ("in_flight", stats.in_flight),
                ("delivered", stats.delivered),
                ("dead_letter", stats.dead_letter),
            ] {
                metrics::gauge!("pplane_outbox_entries", "status" => status).set(n as f64);
            }
            metrics::gauge!("pplane_outbox_oldest_due_age_seconds")
                .set(stats.oldest_due_age_s.unwrap_or(0.0));
            metrics::gauge!("pplane_outbox_stats_up").set(1.0);
        }
        Err(err) => {
            tracing::debug!("outbox stats unreadable for /metrics: {err}");
            metrics::gauge!("pplane_outbox_stats_up").set(0.0);
        }
    }
}

/// The scheduled jobs' health, read as the dispatcher like the outbox's
/// depth; left as they were when this login cannot read it (the outbox's
/// `pplane_outbox_stats_up` says so for both).
async fn job_gauges(store: &Store) {
    let read = async {
        let mut tx = store.dispatch_tx().await?;
        let health = job_health(&mut tx).await?;
        tx.commit().await?;
        Ok::<_, pplane_store::StoreError>(health)
    };
    let health = match read.await {
        Ok(health) => health,
        Err(err) => {
            tracing::debug!("job health unreadable for /metrics: {err}");
            return;
        }
    };
    for h in health {
        let job = h.job.as_str();
        metrics::gauge!("pplane_job_interval_seconds", "name" => job).set(h.every_s);
        metrics::gauge!("pplane_job_enabled", "name" => job).set(f64::from(u8::from(h.enabled)));
        metrics::gauge!("pplane_job_last_success_timestamp_seconds", "name" => job).set(
            h.last_success
                .map_or(0.0, |t| t.timestamp_millis() as f64 / 1e3),
        );
        let failed = h.last_result == Some(pplane_domain::JobResult::Failed);
        metrics::gauge!("pplane_job_last_run_failed", "name" => job)
            .set(f64::from(u8::from(failed)));
    }
}

/// Each tenant's depth by status; a series that had a value before and has
/// none now is set to 0 rather than left at its last value.
fn tenant_gauges(depths: &[(pplane_domain::TenantId, String, i64)]) {
    static SHOWN: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());
    let now: BTreeSet<(String, String)> = depths
        .iter()
        .map(|(t, s, _)| (t.to_string(), s.to_lowercase()))
        .collect();
    let mut shown = SHOWN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (tenant, status) in shown.difference(&now) {
        metrics::gauge!("pplane_outbox_tenant_entries",
            "tenant" => tenant.clone(), "status" => status.clone())
        .set(0.0);
    }
    for (tenant, status, n) in depths {
        metrics::gauge!("pplane_outbox_tenant_entries",
            "tenant" => tenant.to_string(), "status" => status.to_lowercase())
        .set(*n as f64);
    }
    shown.extend(now);
}

/// The due entries and oldest due age of the tenants with the most open
/// entries; a tenant that has left that list is set to 0.
fn backlog_gauges(backlogs: &[TenantBacklog]) {
    static SHOWN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let now: BTreeSet<String> = backlogs.iter().map(|b| b.tenant_id.to_string()).collect();
    let mut shown = SHOWN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for tenant in shown.difference(&now) {
        metrics::gauge!("pplane_outbox_tenant_due", "tenant" => tenant.clone()).set(0.0);
        metrics::gauge!("pplane_outbox_tenant_oldest_due_age_seconds", "tenant" => tenant.clone())
            .set(0.0);
    }
    for b in backlogs {
        let tenant = b.tenant_id.to_string();
        metrics::gauge!("pplane_outbox_tenant_due", "tenant" => tenant.clone()).set(b.due as f64);
        metrics::gauge!("pplane_outbox_tenant_oldest_due_age_seconds", "tenant" => tenant)
            .set(b.oldest_due_age_s.unwrap_or(0.0));
    }
    *shown = now;
}
