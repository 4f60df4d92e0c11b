//! A plane with jobs to run: a tenant, a started run with a destination,
//! effects requested in it, some delivered long ago.

use std::time::Duration;

use pplane_domain::{Actor, TenantId, UserId};
use pplane_jobs::{Jobs, JobsConfig};
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::Origin;
use pplane_store::testing::{run_started, TestDb};
use pplane_store::Store;
use serde_json::json;

pub fn jobs(db: &TestDb, store: &Store, holder: &str) -> Jobs {
    let config = JobsConfig {
        holder: holder.into(),
        tick: Duration::from_millis(200),
    };
    Jobs::new(store.clone(), db.url().to_owned(), config)
}

/// A tenant with `n` effects requested, keyed `k0`…; returns its ids.
pub async fn tenant_with_effects(db: &TestDb, store: &Store, n: usize) -> (TenantId, UserId) {
    let (tenant, user) = db.tenant(store).await;
    let run = run_started(store, tenant, user, "jobs").await;
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let hook = Target::Webhook("http://127.0.0.1:9/h".into());
    destination_create(&mut tx, "hook", &hook).await.unwrap();
    let origin = Origin::by("agent:planner".parse::<Actor>().unwrap());
    for i in 0..n {
        let input = EffectInput {
            run,
            step: None,
            effect_type: "NOTIFY".into(),
            idempotency_key: format!("k{i}"),
            spec: json!({ "destination": "hook" }),
        };
        effect_request(&mut tx, &input, &origin).await.unwrap();
    }
    tx.commit().await.unwrap();
    (tenant, user)
}

/// Marks the tenant's first `n` entries delivered `days` ago, as the
/// superuser (the worker would have delivered them then).
pub async fn delivered_days_ago(db: &TestDb, tenant: TenantId, n: usize, days: u32) {
    db.exec(&format!(
        "UPDATE outbox_events SET status = 'DELIVERED',
                delivered_at = now() - interval '{days} days'
         WHERE tenant_id = '{tenant}' AND id IN (
             SELECT id FROM outbox_events WHERE tenant_id = '{tenant}' AND status = 'PENDING'
             ORDER BY id LIMIT {n})"
    ))
    .await;
}

pub async fn outbox_count(db: &TestDb, tenant: TenantId) -> i64 {
    db.scalar(&format!(
        "SELECT count(*) FROM outbox_events WHERE tenant_id = '{tenant}'"
    ))
    .await
}
