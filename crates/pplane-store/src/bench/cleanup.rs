//! `pplane bench jobs`: what the scheduled cleanup costs the writers. A
//! scratch database is loaded with a million delivered outbox entries (and
//! their effects), a LangGraph thread of checkpoints and a run of as many;
//! one writer appends events of another tenant alone, then again while the
//! outbox purge and the checkpoint prune (the operations the scheduled jobs
//! run, in their batches) delete them and drop the run's superseded states. The row's figures are the appends beside the
//! cleanup, its raw ones the same appends alone; the walkthrough holds
//! appends to 10 ms at p99.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use pplane_domain::{RunId, TenantId, UserId};
use serde_json::json;

use super::append::append_one;
use super::{concurrently, timed, BenchRow, Samples, ScratchDb};
use crate::operations::checkpoints::{checkpoint_save, checkpoints_prune, CheckpointRetention};
use crate::operations::delivery::outbox_purge;
use crate::operations::ingest::{signal_ingest, SignalInput};
use crate::operations::langgraph::{langgraph_checkpoint_put, CheckpointKey, CheckpointPut};
use crate::operations::runs::run_start;
use crate::operations::Origin;
use crate::{Admin, Result, Store, StoreOptions};

#[derive(Debug, Clone)]
pub struct CleanupBench {
    /// Delivered outbox entries to purge.
    pub rows: u32,
    /// Checkpoints of one LangGraph thread, and of one run, all but the
    /// newest 20 of each pruned.
    pub checkpoints: u32,
    /// How long the appends alone run.
    pub seconds: f64,
}

/// What the prune keeps of the thread, as the job's default does.
const KEEP_LATEST: u32 = 20;

pub async fn run(url: &str, cfg: &CleanupBench, progress: impl Fn(&str)) -> Result<Vec<BenchRow>> {
    progress("creating a scratch database");
    let scratch = ScratchDb::create(url).await?;
    let result = measure(&scratch.url, cfg, &progress).await;
    scratch.drop_now().await?;
    result
}

async fn measure(url: &str, cfg: &CleanupBench, progress: &impl Fn(&str)) -> Result<Vec<BenchRow>> {
    let store = Store::connect_with(url, StoreOptions { max_connections: 6 }).await?;
    let (writer, cleaned_user) = (UserId::new(), UserId::new());
    let writer_tenant = store.tenant_create("bench writer", writer).await?;
    let cleaned = store.tenant_create("bench cleaned", cleaned_user).await?;

    progress(&format!("loading {} delivered outbox entries", cfg.rows));
    let run = started_run(&store, cleaned, cleaned_user).await?;
    let mut admin = Admin::connect(url).await?;
    load_delivered(&mut admin, cleaned, run, cfg.rows).await?;
    progress(&format!(
        "storing a thread of {} checkpoints",
        cfg.checkpoints
    ));
    store_thread(&store, cleaned, cleaned_user, cfg.checkpoints).await?;
    progress(&format!("saving a run's {} checkpoints", cfg.checkpoints));
    store_run_checkpoints(&store, cleaned, cleaned_user, run, cfg.checkpoints).await?;
    sqlx::raw_sql("VACUUM ANALYZE")
        .execute(admin.conn())
        .await?;
    admin.close().await?;

    progress("appending alone");
    let duration = Duration::from_secs_f64(cfg.seconds);
    let alone = {
        let store = store.clone();
        concurrently(1, duration, move |_, i| {
            let store = store.clone();
            async move { timed(append_one(&store, writer_tenant, writer, i)).await }
        })
        .await?
    };

    progress("appending while the purge and the prune run");
    let done = Arc::new(AtomicBool::new(false));
    let cleanup = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let purged = outbox_purge(&store, Utc::now(), &[]).await;
            let purge_took = started.elapsed();
            let principal = store.delivery_principal().await;
            let pruned = match principal {
                Ok(principal) => {
                    let origin =
                        Origin::by("system:checkpoint-retention".parse().expect("an actor"));
                    let keep = CheckpointRetention::BeyondNewest(KEEP_LATEST);
                    checkpoints_prune(&store, cleaned, principal, keep, &origin).await
                }
                Err(e) => Err(e),
            };
            done.store(true, Ordering::Relaxed);
            Ok::<_, crate::StoreError>((purged?, purge_took, pruned?, started.elapsed()))
        })
    };
    let mut beside = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    while !done.load(Ordering::Relaxed) {
        beside.extend(timed(append_one(&store, writer_tenant, writer, i)).await?);
        i += 1;
    }
    let wall = started.elapsed();
    let (purged, purge_took, pruned, took) = cleanup
        .await
        .map_err(|e| crate::StoreError::Internal(format!("the cleanup stopped: {e}")))??;
    progress(&format!(
        "purged {purged} entries in {:.1} s, pruned {} checkpoints and {} states in {:.1} s",
        purge_took.as_secs_f64(),
        pruned.documents,
        pruned.states,
        (took - purge_took).as_secs_f64()
    ));
    store.close().await;
    let beside = Samples::concurrent(beside, wall);
    let name = format!(
        "append beside the cleanup jobs: purge {purged} delivered entries, prune {} checkpoints and {} run checkpoint states",
        pruned.documents, pruned.states
    );
    Ok(vec![BenchRow::new(name, 1, Some(2), &beside, &alone)])
}

/// A run of `tenant`, started, for the loaded effects to belong to.
async fn started_run(store: &Store, tenant: TenantId, user: UserId) -> Result<RunId> {
    let mut tx = store.tenant_tx(tenant, user).await?;
    let input = SignalInput {
        channel: "bench".into(),
        source_id: "cleanup".into(),
        payload: json!({}),
        domain_refs: json!({}),
        actor: "user:bench".parse().expect("an actor"),
    };
    let run = signal_ingest(&mut tx, &input).await?.value.run_id;
    run_start(
        &mut tx,
        run,
        &Origin::by("agent:bench".parse().expect("an actor")),
    )
    .await?;
    tx.commit().await?;
    Ok(run)
}

/// `n` effects of `run`, each with its outbox entry delivered 30 days ago,
/// in one statement each as the login (a month of a busy tenant's traffic
/// at once; random uuids, where the application makes UUIDv7s).
async fn load_delivered(admin: &mut Admin, tenant: TenantId, run: RunId, n: u32) -> Result<()> {
    sqlx::query(
        "INSERT INTO effects (tenant_id, id, run_id, effect_type, effect_spec, idempotency_key,
                              status, correlation_id, actor)
         SELECT $1, gen_random_uuid(), $2, 'NOTIFY',
                jsonb_build_object('idempotency_key', 'k' || i, 'destination', 'hook'),
                'k' || i, 'COMPLETED', gen_random_uuid(), 'agent:bench'
         FROM generate_series(1, $3) AS i",
    )
    .bind(tenant.as_uuid())
    .bind(run.as_uuid())
    .bind(n as i64)
    .execute(admin.conn())
    .await?;
    sqlx::query(
        "INSERT INTO outbox_events (tenant_id, id, event_type, aggregate_id, payload, idempotency_key,
                                    status, available_at, delivered_at, correlation_id, actor)
         SELECT e.tenant_id, gen_random_uuid(), 'NOTIFY', e.id, e.effect_spec, e.idempotency_key,
                'DELIVERED', NULL, now() - interval '30 days', e.correlation_id, e.actor
         FROM effects e WHERE e.tenant_id = $1",
    )
    .bind(tenant.as_uuid())
    .execute(admin.conn())
    .await?;
    Ok(())
}

/// One LangGraph thread of `n` checkpoints, a hundred a transaction.
async fn store_thread(store: &Store, tenant: TenantId, user: UserId, n: u32) -> Result<()> {
    let origin = Origin::by("agent:graph".parse().expect("an actor"));
    let ids: Vec<u32> = (0..n).collect();
    for chunk in ids.chunks(100) {
        let mut tx = store.tenant_tx(tenant, user).await?;
        for &id in chunk {
            let key = CheckpointKey {
                thread_id: "bench".into(),
                checkpoint_ns: String::new(),
                checkpoint_id: format!("{id:08}"),
            };
            let put = CheckpointPut {
                parent_checkpoint_id: id.checked_sub(1).map(|p| format!("{p:08}")),
                checkpoint: json!({ "v": 4, "id": key.checkpoint_id, "channel_versions": {}, "versions_seen": {} }),
                metadata: json!({ "source": "loop", "step": id }),
                key,
                values: Vec::new(),
            };
            langgraph_checkpoint_put(&mut tx, &put, &origin).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// `n` checkpoints of `run`, each a 2 KiB state (an agent's working memory),
/// a hundred a transaction.
async fn store_run_checkpoints(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    run: RunId,
    n: u32,
) -> Result<()> {
    let origin = Origin::by("agent:bench".parse().expect("an actor"));
    let memory = "m".repeat(2048);
    let ids: Vec<u32> = (0..n).collect();
    for chunk in ids.chunks(100) {
        let mut tx = store.tenant_tx(tenant, user).await?;
        for &i in chunk {
            let state = json!({ "step": i, "memory": memory });
            checkpoint_save(&mut tx, run, &state, None, &origin).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
