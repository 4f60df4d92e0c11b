//! `pplane bench trace`: reconstructing one run of about 1,000 events from
//! a log of at least a million, through the full path (a unit of work, its
//! tenant context, RLS, the one-round-trip trace query), against the raw
//! baseline of reading the same correlation's events with a plain indexed
//! SELECT as the login role, on the same server, in the same run.

use std::time::Instant;

use pplane_domain::{TenantId, UserId};
use serde_json::json;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::{BenchRow, Samples, ScratchDb};
use crate::operations::ingest::{signal_ingest, SignalInput};
use crate::operations::runs::run_start;
use crate::operations::steps::{step_add, step_move, StepInput, StepMove};
use crate::operations::Origin;
use crate::queries::trace::trace_load;
use crate::{Admin, Result, Store};

#[derive(Debug, Clone, Copy)]
pub struct TraceBench {
    /// Events in the log besides the traced run's.
    pub background_events: u32,
    /// Steps of the traced run: three events each, plus the run's own.
    pub steps: u32,
    pub iterations: u32,
}

impl Default for TraceBench {
    fn default() -> Self {
        TraceBench {
            background_events: 1_000_000,
            steps: 332,
            iterations: 200,
        }
    }
}

/// Tenants the background events are spread over.
const TENANTS: u32 = 50;

pub async fn run(url: &str, cfg: TraceBench, progress: impl Fn(&str)) -> Result<Vec<BenchRow>> {
    progress("creating a scratch database");
    let scratch = ScratchDb::create(url).await?;
    let result = measure(&scratch.url, cfg, &progress).await;
    scratch.drop_now().await?;
    result
}

async fn measure(url: &str, cfg: TraceBench, progress: &impl Fn(&str)) -> Result<Vec<BenchRow>> {
    let store = Store::connect(url).await?;
    let mut tenants = Vec::new();
    for i in 0..TENANTS {
        let user = UserId::new();
        tenants.push((
            store.tenant_create(&format!("bench {i}"), user).await?,
            user,
        ));
    }
    progress(&format!(
        "loading {} background events",
        cfg.background_events
    ));
    let mut admin = Admin::connect(url).await?;
    load_background(admin.conn(), cfg.background_events).await?;
    admin.close().await?;

    progress(&format!("recording a run of {} steps", cfg.steps));
    let (tenant, user) = tenants[0];
    let (run, correlation, events) = record_run(&store, tenant, user, cfg.steps).await?;
    let total: i64 = {
        let mut conn = PgConnection::connect(url).await?;
        sqlx::raw_sql("ANALYZE").execute(&mut conn).await?;
        let n = sqlx::query_scalar("SELECT count(*) FROM orchestration_events")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        n
    };

    progress(&format!("tracing a run of {events} events among {total}"));
    let mut ours = Samples::default();
    let mut raw = Samples::default();
    let mut plain = PgConnection::connect(url).await?;
    for i in 0..cfg.iterations + 10 {
        let t = Instant::now();
        let mut tx = store.tenant_tx(tenant, user).await?;
        let trace = trace_load(&mut tx, run).await?;
        tx.commit().await?;
        let took = t.elapsed();
        debug_assert!(trace.is_some_and(|t| t.events.len() as i64 == events));

        let t = Instant::now();
        let rows: Vec<(Uuid, i64, serde_json::Value)> = sqlx::query_as(
            "SELECT id, sequence_number, event_data FROM orchestration_events
             WHERE tenant_id = $1 AND correlation_id = $2 ORDER BY sequence_number",
        )
        .bind(tenant.as_uuid())
        .bind(correlation)
        .fetch_all(&mut plain)
        .await?;
        let raw_took = t.elapsed();
        debug_assert_eq!(rows.len() as i64, events);
        // The first rounds warm the caches and the plans.
        if i >= 10 {
            ours.push(took);
            raw.push(raw_took);
        }
    }
    plain.close().await?;
    let on = if store.profile() == crate::Profile::Citus {
        " on Citus"
    } else {
        ""
    };
    let name = format!("trace{on}: a run of {events} events among {total}");
    store.close().await;
    Ok(vec![BenchRow::new(name, 1, Some(TENANTS), &ours, &raw)])
}

/// Events of other runs, spread over the tenants, a thousand per
/// correlation, with each tenant's head moved past them.
async fn load_background(conn: &mut PgConnection, n: u32) -> Result<()> {
    let per_tenant = i64::from(n.div_ceil(TENANTS));
    sqlx::query(
        "INSERT INTO orchestration_events (tenant_id, id, sequence_number, event_type, aggregate_type,
                                           aggregate_id, aggregate_version, event_data, correlation_id,
                                           actor)
         SELECT t.tenant_id, gen_random_uuid(), g, 'STEP_COMPLETED', 'STEP', gen_random_uuid(), 1,
                '{\"bench\": true}', t.correlations[1 + (g - 1) / 1000], 'agent:bench'
         FROM (SELECT tenant_id, ARRAY(SELECT gen_random_uuid() FROM generate_series(1, $1 / 1000 + 1))
                      AS correlations
               FROM tenants) t,
              generate_series(1, $1) g",
    )
    .bind(per_tenant)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO tenant_event_heads (tenant_id, last_sequence) SELECT tenant_id, $1 FROM tenants
         ON CONFLICT (tenant_id) DO UPDATE SET last_sequence = EXCLUDED.last_sequence",
    )
    .bind(per_tenant)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A run through the operations: signal, start, `steps` steps each
/// scheduled, started and completed. Returns its id, correlation and event
/// count.
async fn record_run(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    steps: u32,
) -> Result<(Uuid, Uuid, i64)> {
    let by = Origin::by("agent:bench".parse().expect("an actor"));
    let mut tx = store.tenant_tx(tenant, user).await?;
    let got = signal_ingest(
        &mut tx,
        &SignalInput {
            channel: "bench".into(),
            source_id: "trace".into(),
            payload: json!({}),
            domain_refs: json!({}),
            actor: "system:bench".parse().expect("an actor"),
        },
    )
    .await?;
    run_start(&mut tx, got.run_id, &by).await?;
    for i in 0..steps {
        let input = StepInput {
            step_type: format!("step-{i}"),
            step_index: None,
            input: None,
        };
        let step = step_add(&mut tx, got.run_id, &input, &by).await?.id;
        step_move(&mut tx, step, &StepMove::Start, &by).await?;
        let output = Some(json!({ "i": i }));
        step_move(&mut tx, step, &StepMove::Complete { output }, &by).await?;
    }
    tx.commit().await?;
    let events = 3 + 3 * i64::from(steps);
    Ok((got.run_id.as_uuid(), got.correlation_id.as_uuid(), events))
}
