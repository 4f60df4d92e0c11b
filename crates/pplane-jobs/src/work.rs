//! What each job does, through the store's operations: the purge and the
//! prune in batches (a chunk a transaction, so neither holds long locks nor
//! blocks writers), per tenant where a tenant keeps its own retention.

use chrono::Utc;
use pplane_domain::{Actor, Job, TenantId};
use pplane_store::checks::backup::backup_verify;
use pplane_store::checks::gate::Verdict;
use pplane_store::jobs::{JobStart, TenantPolicy};
use pplane_store::operations::checkpoints::{checkpoints_prune, CheckpointRetention};
use pplane_store::operations::delivery::{outbox_purge, outbox_purge_tenant, PURGE_CHUNK};
use pplane_store::operations::Origin;
use pplane_store::projections::projections_refresh;
use pplane_store::{Admin, Store, StoreError};

/// Runs the job `start` began; how many rows it changed, or why it failed.
pub(crate) async fn job_work(store: &Store, url: &str, start: &JobStart) -> Result<i64, String> {
    let done = match start.policy.job {
        Job::OutboxPurge => purge(store, start).await,
        Job::CheckpointPrune => prune(store, url, start).await,
        Job::ProjectionRefresh => refresh(url).await,
        Job::BackupVerify => return verify(url).await,
    };
    done.map(|n| n as i64).map_err(|e| e.to_string())
}

fn age(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Delivered entries older than the retention: the plane's in one sweep of
/// dispatcher transactions, then each tenant with its own retention in
/// transactions of that tenant.
async fn purge(store: &Store, start: &JobStart) -> Result<u64, StoreError> {
    let now = Utc::now();
    let retention = start
        .policy
        .retention
        .ok_or_else(|| StoreError::InvalidInput("the outbox purge has no retention".into()))?;
    let own: Vec<&TenantPolicy> = start
        .tenants
        .iter()
        .filter(|t| t.retention.is_some())
        .collect();
    let except: Vec<TenantId> = own.iter().map(|t| t.tenant_id).collect();
    let mut total = outbox_purge(store, now - age(retention), &except).await?;
    let principal = store.delivery_principal().await?;
    for tenant in own {
        let before = now - age(tenant.retention.unwrap_or(retention));
        loop {
            let mut tx = store.tenant_tx(tenant.tenant_id, principal).await?;
            let done = outbox_purge_tenant(&mut tx, before).await?;
            tx.commit().await?;
            total += done;
            if done < PURGE_CHUNK as u64 {
                break;
            }
        }
    }
    Ok(total)
}

/// LangGraph checkpoints beyond the newest N of each thread and those last
/// written before the retention, and the state of run checkpoints by the
/// same policy (each run's newest keeps its own), in every tenant by its
/// policy or the plane's; each prune records CHECKPOINT_DELETED as the
/// retention actor. The rows affected: documents deleted and states dropped.
async fn prune(store: &Store, url: &str, start: &JobStart) -> Result<u64, StoreError> {
    let now = Utc::now();
    let mut admin = Admin::connect(url).await?;
    let tenants = admin.tenants_list().await?;
    admin.close().await?;
    let principal = store.delivery_principal().await?;
    let actor: Actor = "system:checkpoint-retention"
        .parse()
        .map_err(|e| StoreError::Internal(format!("{e}")))?;
    let origin = Origin::by(actor);
    let mut total = 0;
    for tenant in tenants {
        let own = start.tenants.iter().find(|t| t.tenant_id == tenant);
        let keep = own.map_or(start.policy.keep_latest, |t| t.keep_latest);
        let retention = own.map_or(start.policy.retention, |t| t.retention);
        let mut retentions = Vec::new();
        retentions.extend(keep.map(CheckpointRetention::BeyondNewest));
        retentions.extend(retention.map(|r| CheckpointRetention::Before(now - age(r))));
        for retention in retentions {
            let took = checkpoints_prune(store, tenant, principal, retention, &origin).await?;
            total += took.documents + took.states;
        }
    }
    Ok(total)
}

/// The projections, refreshed from the runtime tables: rows written.
async fn refresh(url: &str) -> Result<u64, StoreError> {
    let mut admin = Admin::connect(url).await?;
    let done = projections_refresh(&mut admin).await?;
    admin.close().await?;
    Ok(done.rows.max(0) as u64)
}

/// A backup dumped, restored into a scratch database and checked there (the
/// gate's proof, recorded for it): the events it held. pg_dump and
/// pg_restore block their thread, so the proof runs on the blocking pool,
/// away from the threads that serve requests and deliveries.
async fn verify(url: &str) -> Result<i64, String> {
    let url = url.to_owned();
    let handle = tokio::runtime::Handle::current();
    let proof = tokio::task::spawn_blocking(move || handle.block_on(backup_verify(&url)))
        .await
        .map_err(|e| format!("the backup verification stopped: {e}"))?
        .map_err(|e| e.to_string())?;
    match proof.item.verdict {
        Verdict::Pass => Ok(proof.events),
        _ => Err(proof.item.evidence),
    }
}
