//! `pplane bench append`: appending one event through the full path (a unit
//! of work with its tenant context, RLS, the per-tenant head, the triggers)
//! against a plain single-row INSERT of the same shape into an unconstrained
//! table, at the same concurrency, on the same server, in the same run.

use std::time::Duration;

use pplane_domain::{Actor, CorrelationId, EventId, EventType, TenantId, UserId};
use serde_json::json;
use sqlx::PgPool;

use super::message_db::{self, MessageDb};
use super::{concurrently, timed, BenchRow, ScratchDb};
use crate::repositories::events::NewEvent;
use crate::{Admin, Result, Store, StoreOptions};

#[derive(Debug, Clone)]
pub struct AppendBench {
    /// Scenarios as (writers, tenants).
    pub scenarios: Vec<(u32, u32)>,
    /// How long each side of each scenario runs.
    pub seconds: f64,
    /// Also measure Message DB's `write_message` (see [`super::message_db`]).
    pub peer: bool,
}

impl Default for AppendBench {
    fn default() -> Self {
        AppendBench {
            scenarios: vec![(1, 50), (8, 50), (32, 50), (1, 1), (8, 1), (16, 1), (32, 1)],
            seconds: 3.0,
            peer: false,
        }
    }
}

pub async fn run(url: &str, cfg: &AppendBench, progress: impl Fn(&str)) -> Result<Vec<BenchRow>> {
    progress("creating a scratch database");
    let scratch = ScratchDb::create(url).await?;
    let result = measure(&scratch.url, cfg, &progress).await;
    scratch.drop_now().await?;
    result
}

async fn measure(url: &str, cfg: &AppendBench, progress: &impl Fn(&str)) -> Result<Vec<BenchRow>> {
    let max_writers = cfg.scenarios.iter().map(|s| s.0).max().unwrap_or(1);
    let max_tenants = cfg.scenarios.iter().map(|s| s.1).max().unwrap_or(1);
    let store = Store::connect_with(
        url,
        StoreOptions {
            max_connections: max_writers + 2,
        },
    )
    .await?;
    let mut tenants = Vec::new();
    for i in 0..max_tenants {
        let user = UserId::new();
        tenants.push((
            store.tenant_create(&format!("bench {i}"), user).await?,
            user,
        ));
    }
    let mut admin = Admin::connect(url).await?;
    sqlx::raw_sql(
        "CREATE TABLE bench_events_raw (
             tenant_id uuid, id uuid, sequence_number bigint, event_type varchar(100), aggregate_type varchar(20),
             aggregate_id uuid, aggregate_version integer, schema_version smallint, event_data jsonb,
             occurred_at timestamptz DEFAULT now(), correlation_id uuid, causation_id uuid, actor varchar(100),
             created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now())",
    )
    .execute(admin.conn())
    .await?;
    // On Citus the baseline is distributed the same way, so the ratio is
    // the plane's cost on the cluster, and a run on each profile compares
    // the cluster with one server.
    let on_citus = store.profile() == crate::Profile::Citus;
    if on_citus {
        sqlx::raw_sql("SELECT create_distributed_table('bench_events_raw', 'tenant_id')")
            .execute(admin.conn())
            .await?;
    }
    admin.close().await?;
    let raw_pool = crate::store::pool_options()
        .max_connections(max_writers + 2)
        .connect(url)
        .await?;
    let duration = Duration::from_secs_f64(cfg.seconds);
    let peer = if cfg.peer {
        progress(&format!(
            "installing {} (npm) in a scratch database",
            message_db::PACKAGE
        ));
        Some(MessageDb::install(url, max_writers).await?)
    } else {
        None
    };

    let mut rows = Vec::new();
    for &(writers, tenant_count) in &cfg.scenarios {
        let spread = if tenant_count == 1 {
            "one tenant".to_owned()
        } else {
            format!("{tenant_count} tenants")
        };
        let on = if on_citus { " on Citus" } else { "" };
        let name = format!("append{on}: {writers} writers, {spread}");
        progress(&name);
        let used: std::sync::Arc<Vec<(TenantId, UserId)>> =
            std::sync::Arc::new(tenants[..tenant_count as usize].to_vec());
        let (store2, used2) = (store.clone(), used.clone());
        let ours = concurrently(writers, duration, move |w, i| {
            let store = store2.clone();
            let (tenant, user) = used2[(w as usize + i) % used2.len()];
            async move { timed(append_one(&store, tenant, user, i)).await }
        })
        .await?;
        let pool2 = raw_pool.clone();
        let raw = concurrently(writers, duration, move |w, i| {
            let pool = pool2.clone();
            let (tenant, _) = used[(w as usize + i) % used.len()];
            async move { timed(insert_raw(&pool, tenant, i)).await }
        })
        .await?;
        rows.push(BenchRow::new(
            name.clone(),
            writers,
            Some(tenant_count),
            &ours,
            &raw,
        ));
        if let Some(peer) = &peer {
            progress(&format!("peer message-db: {name}"));
            let pool = peer.pool.clone();
            let theirs = concurrently(writers, duration, move |w, i| {
                let pool = pool.clone();
                // One category per tenant, as ours has one log per tenant.
                let tenant = (w as usize + i) % tenant_count as usize;
                async move { timed(write_peer(&pool, tenant, i)).await }
            })
            .await?;
            rows.push(BenchRow::new(
                format!("peer message-db: {name}"),
                writers,
                Some(tenant_count),
                &ours,
                &theirs,
            ));
        }
    }
    if let Some(peer) = peer {
        peer.drop_now().await?;
    }
    raw_pool.close().await;
    store.close().await;
    Ok(rows)
}

fn bench_event(i: usize) -> NewEvent {
    NewEvent {
        id: EventId::new(),
        event_type: EventType::StepCompleted,
        aggregate_id: uuid::Uuid::now_v7(),
        aggregate_version: 1,
        data: json!({ "step_index": i % 16, "output_bytes": 120 }),
        correlation: CorrelationId::new(),
        causation: None,
        actor: Actor::Agent("bench".into()),
    }
}

pub(super) async fn append_one(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    i: usize,
) -> Result<()> {
    store
        .events_append(tenant, user, vec![bench_event(i)])
        .await?;
    Ok(())
}

/// The same event as Message DB writes it: the data as data, the trace
/// context as metadata, in a stream of the tenant's category.
async fn write_peer(pool: &PgPool, tenant: usize, i: usize) -> Result<()> {
    let e = bench_event(i);
    let stream = format!("tenant{tenant}-{}", e.aggregate_id.simple());
    let metadata = json!({
        "correlationStreamName": e.correlation.to_string(),
        "causationMessageStreamName": e.causation.map(|c| c.to_string()),
        "actor": e.actor.to_string(),
    });
    message_db::write_message(pool, &stream, &e.data, &metadata).await
}

async fn insert_raw(pool: &PgPool, tenant: TenantId, i: usize) -> Result<()> {
    let e = bench_event(i);
    sqlx::query(
        "INSERT INTO bench_events_raw (tenant_id, id, sequence_number, event_type, aggregate_type, aggregate_id,
                                       aggregate_version, schema_version, event_data, correlation_id, causation_id, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11)",
    )
    .bind(tenant.as_uuid())
    .bind(e.id.as_uuid())
    .bind(i as i64)
    .bind(e.event_type.as_str())
    .bind(e.event_type.aggregate().as_str())
    .bind(e.aggregate_id)
    .bind(e.aggregate_version)
    .bind(&e.data)
    .bind(e.correlation.as_uuid())
    .bind(e.causation.map(|c| c.as_uuid()))
    .bind(e.actor.to_string())
    .execute(pool)
    .await?;
    Ok(())
}
