//! Each job's policy has a default and may be changed for the plane, and
//! for the purge and the prune per tenant; settings a job cannot use are
//! refused with what to do instead, and a disabled job waits to be asked.

use std::time::Duration;

use pplane_domain::{Job, TenantId};
use pplane_jobs::Ran;
use pplane_store::jobs::{job_policy_set, job_states, job_tenant_policy_set, PolicyChange};
use pplane_store::testing::TestDb;
use pplane_store::StoreError;

use crate::support::jobs;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn every_job_has_a_default_policy_and_is_due_when_it_never_ran() {
    let db = TestDb::migrated().await;
    let mut admin = db.admin().await;
    let states = job_states(&mut admin).await.unwrap();
    let shown: Vec<(Job, u64, Option<u64>, Option<u32>)> = states
        .iter()
        .map(|s| {
            let p = &s.policy;
            (
                p.job,
                p.every.as_secs(),
                p.retention.map(|r| r.as_secs()),
                p.keep_latest,
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (Job::BackupVerify, 7 * 86_400, None, None),
            (Job::CheckpointPrune, 3600, None, Some(20)),
            (Job::OutboxPurge, 3600, Some(7 * 86_400), None),
            (Job::ProjectionRefresh, 300, None, None),
        ]
    );
    assert!(states
        .iter()
        .all(|s| s.last.is_none() && s.next_at.is_some() && s.tenants.is_empty()));
}

#[tokio::test]
async fn a_policy_changes_within_what_its_job_can_use() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let mut admin = db.admin().await;
    fn refused<T: std::fmt::Debug>(r: Result<T, StoreError>, part: &str) {
        match r {
            Err(StoreError::InvalidInput(m)) => assert!(m.contains(part), "{part:?} in {m:?}"),
            other => panic!("expected a refusal naming {part:?}, got {other:?}"),
        }
    }
    let every = |secs| PolicyChange {
        every: Some(Duration::from_secs(secs)),
        ..PolicyChange::default()
    };
    refused(
        job_policy_set(&mut admin, Job::OutboxPurge, &every(30)).await,
        "at most once a minute",
    );
    let no_retention = PolicyChange {
        retention: Some(None),
        ..PolicyChange::default()
    };
    refused(
        job_policy_set(&mut admin, Job::OutboxPurge, &no_retention).await,
        "needs a retention",
    );
    let keep = |n| PolicyChange {
        keep_latest: Some(Some(n)),
        ..PolicyChange::default()
    };
    refused(
        job_policy_set(&mut admin, Job::ProjectionRefresh, &keep(3)).await,
        "only its interval",
    );
    refused(
        job_policy_set(&mut admin, Job::CheckpointPrune, &keep(0)).await,
        "at least the newest",
    );
    // The prune may keep by age instead of count, not by neither.
    let by_age = PolicyChange {
        retention: Some(Some(30 * DAY)),
        keep_latest: Some(None),
        ..PolicyChange::default()
    };
    let p = job_policy_set(&mut admin, Job::CheckpointPrune, &by_age)
        .await
        .unwrap();
    assert_eq!((p.retention, p.keep_latest), (Some(30 * DAY), None));
    refused(
        job_policy_set(&mut admin, Job::CheckpointPrune, &no_retention).await,
        "or both",
    );
    let p = job_policy_set(&mut admin, Job::OutboxPurge, &every(2 * 3600))
        .await
        .unwrap();
    assert_eq!((p.every, p.retention), (2 * HOUR, Some(7 * DAY)));

    // Per tenant: the purge and the prune only, a tenant that exists only.
    let (tenant, _) = db.tenant(&store).await;
    refused(
        job_tenant_policy_set(&mut admin, Job::BackupVerify, tenant, Some(DAY), None).await,
        "no per-tenant policy",
    );
    let missing = job_tenant_policy_set(
        &mut admin,
        Job::OutboxPurge,
        TenantId::new(),
        Some(DAY),
        None,
    )
    .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
    job_tenant_policy_set(&mut admin, Job::OutboxPurge, tenant, Some(90 * DAY), None)
        .await
        .unwrap();
    let states = job_states(&mut admin).await.unwrap();
    let purge = states
        .iter()
        .find(|s| s.policy.job == Job::OutboxPurge)
        .unwrap();
    assert_eq!(purge.tenants.len(), 1);
    assert_eq!(
        (purge.tenants[0].tenant_id, purge.tenants[0].retention),
        (tenant, Some(90 * DAY))
    );
    // Neither setting: back to the plane's.
    job_tenant_policy_set(&mut admin, Job::OutboxPurge, tenant, None, None)
        .await
        .unwrap();
    let states = job_states(&mut admin).await.unwrap();
    assert!(states.iter().all(|s| s.tenants.is_empty()));
}

#[tokio::test]
async fn a_disabled_job_waits_to_be_asked() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let mut admin = db.admin().await;
    let off = PolicyChange {
        enabled: Some(false),
        ..PolicyChange::default()
    };
    job_policy_set(&mut admin, Job::ProjectionRefresh, &off)
        .await
        .unwrap();
    let states = job_states(&mut admin).await.unwrap();
    let refresh = states
        .iter()
        .find(|s| s.policy.job == Job::ProjectionRefresh)
        .unwrap();
    assert_eq!(refresh.next_at, None);
    let host = jobs(&db, &store, "host");
    let looked = host.run_job(Job::ProjectionRefresh, false).await.unwrap();
    assert!(matches!(looked, Ran::NotDue { .. }), "{looked:?}");
    let asked = host.run_job(Job::ProjectionRefresh, true).await.unwrap();
    assert!(matches!(asked, Ran::Ran { .. }), "{asked:?}");
}
