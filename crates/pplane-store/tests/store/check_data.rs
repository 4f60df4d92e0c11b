//! `pplane check data` passes on rows the operations wrote, and fails,
//! naming the offending ids, when any one kind of corruption is made
//! behind their back (as the login, past row-level security).

use pplane_domain::{RetryPolicy, StepId, TenantId};
use pplane_store::checks::data::data_check;
use pplane_store::checks::CheckReport;
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::ingest::Ingested;
use pplane_store::operations::runs::{run_finish, run_start, RunOutcome};
use pplane_store::operations::steps::{step_add, step_move, StepInput, StepMove};
use pplane_store::operations::Origin;
use pplane_store::testing::TestDb;
use serde_json::json;

use crate::support::ingest;

struct Plane {
    db: TestDb,
    tenant: TenantId,
    first: Ingested,
    second: Ingested,
    step: StepId,
}

/// Two runs of one tenant: the first with a failed, retried, completed
/// step and an effect, completed; the second only ingested.
async fn plane() -> Plane {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let first = ingest(&store, tenant, user, "a").await;
    let second = ingest(&store, tenant, user, "b").await;
    let by = Origin::by("agent:planner".parse().unwrap());
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    run_start(&mut tx, first.run_id, &by).await.unwrap();
    let input = StepInput {
        step_type: "lookup".into(),
        step_index: None,
        input: None,
    };
    let step = step_add(&mut tx, first.run_id, &input, &by)
        .await
        .unwrap()
        .id;
    let policy = RetryPolicy {
        base_delay_ms: 0,
        ..RetryPolicy::default()
    };
    for m in [
        StepMove::Start,
        StepMove::Fail {
            error: json!("503"),
        },
        StepMove::Retry { policy },
        StepMove::Start,
        StepMove::Complete { output: None },
    ] {
        step_move(&mut tx, step, &m, &by).await.unwrap();
    }
    destination_create(
        &mut tx,
        "hook",
        &Target::Webhook("https://example.com/h".into()),
    )
    .await
    .unwrap();
    let effect = EffectInput {
        run: first.run_id,
        step: None,
        effect_type: "NOTIFY".into(),
        idempotency_key: "k1".into(),
        spec: json!({ "destination": "hook" }),
    };
    effect_request(&mut tx, &effect, &by).await.unwrap();
    run_finish(&mut tx, first.run_id, &RunOutcome::Completed, &by)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Plane {
        db,
        tenant,
        first,
        second,
        step,
    }
}

async fn check(db: &TestDb) -> CheckReport {
    data_check(&mut db.admin().await).await.unwrap()
}

fn assert_fails(report: &CheckReport, check: &str, naming: &str) {
    let hit = report
        .failures()
        .any(|r| r.check.contains(check) && r.evidence.contains(naming));
    let failures: Vec<_> = report.failures().map(|r| (&r.check, &r.evidence)).collect();
    assert!(
        hit,
        "expected {check:?} to fail naming {naming:?}, got {failures:#?}"
    );
}

/// An event appended behind the operations' back, at the tenant's next
/// position (and the head moved with it, unless `gap`).
async fn append_raw(
    p: &Plane,
    aggregate: (&str, uuid::Uuid),
    correlation: uuid::Uuid,
    causation: Option<uuid::Uuid>,
    gap: bool,
) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    let causation = causation.map(|c| format!("'{c}'")).unwrap_or("NULL".into());
    let skip = if gap { 2 } else { 1 };
    p.db.exec(&format!(
        "INSERT INTO orchestration_events (tenant_id, id, sequence_number, event_type, aggregate_type,
                                           aggregate_id, aggregate_version, correlation_id, causation_id, actor)
         SELECT '{t}', '{id}', last_sequence + {skip}, '{ty}_X', '{ty}', '{agg}', 99, '{correlation}', {causation}, 'system:corrupter'
         FROM tenant_event_heads WHERE tenant_id = '{t}';
         UPDATE tenant_event_heads SET last_sequence = last_sequence + {skip} WHERE tenant_id = '{t}';",
        t = p.tenant,
        ty = aggregate.0,
        agg = aggregate.1,
    ))
    .await;
    id
}

#[tokio::test]
async fn rows_written_by_the_operations_pass() {
    let p = plane().await;
    let report = check(&p.db).await;
    let failures: Vec<_> = report.failures().map(|r| (&r.check, &r.evidence)).collect();
    assert!(report.passed(), "{failures:#?}");
    assert_eq!(report.results.len(), 10);
}

#[tokio::test]
async fn a_finished_run_with_live_children_fails() {
    let p = plane().await;
    // Behind the operations' back: the completed run's step runs again, and
    // a tool call under it is pending.
    p.db.exec(&format!(
        "UPDATE steps SET status = 'RUNNING' WHERE id = '{step}';
         INSERT INTO tool_calls (tenant_id, id, step_id, tool_name, tool_args, correlation_id, actor)
         SELECT tenant_id, '{call}', id, 'late', '{{}}', correlation_id, 'agent:x'
         FROM steps WHERE id = '{step}'",
        step = p.step,
        call = uuid::Uuid::now_v7(),
    ))
    .await;
    let report = check(&p.db).await;
    let run = p.first.run_id;
    assert_fails(
        &report,
        "finished run has no live",
        &format!("run {run} is COMPLETED but its step {} is RUNNING", p.step),
    );
    assert_fails(&report, "finished run has no live", "tool call");
}

#[tokio::test]
async fn an_event_about_nothing_fails() {
    let p = plane().await;
    let ghost = uuid::Uuid::now_v7();
    let cause = first_event(&p).await;
    append_raw(
        &p,
        ("SIGNAL", ghost),
        p.first.correlation_id.as_uuid(),
        Some(cause),
        false,
    )
    .await;
    assert_fails(&check(&p.db).await, "aggregate exists", &ghost.to_string());
}

#[tokio::test]
async fn a_status_its_events_do_not_explain_fails() {
    let p = plane().await;
    p.db.exec(&format!(
        "UPDATE runs SET status = 'FAILED' WHERE id = '{}'",
        p.first.run_id
    ))
    .await;
    assert_fails(
        &check(&p.db).await,
        "last event implies",
        &format!("run {} is FAILED", p.first.run_id),
    );
}

#[tokio::test]
async fn a_retry_counter_its_events_do_not_explain_fails() {
    let p = plane().await;
    p.db.exec(&format!(
        "UPDATE steps SET retry_count = 3 WHERE id = '{}'",
        p.step
    ))
    .await;
    assert_fails(
        &check(&p.db).await,
        "retry counters",
        &format!("step {} counts 3 retries, its log 1", p.step),
    );
}

#[tokio::test]
async fn causation_from_another_correlation_fails() {
    let p = plane().await;
    let other = first_event_of(&p, p.second.correlation_id.as_uuid()).await;
    let id = append_raw(
        &p,
        ("RUN", p.first.run_id.as_uuid()),
        p.first.correlation_id.as_uuid(),
        Some(other),
        false,
    )
    .await;
    assert_fails(
        &check(&p.db).await,
        "causation stays",
        &format!("event {id} is caused by {other}, an event of another correlation"),
    );
}

#[tokio::test]
async fn a_second_root_fails() {
    let p = plane().await;
    append_raw(
        &p,
        ("RUN", p.first.run_id.as_uuid()),
        p.first.correlation_id.as_uuid(),
        None,
        false,
    )
    .await;
    assert_fails(
        &check(&p.db).await,
        "exactly one root",
        &format!("correlation {} has 2 root events", p.first.correlation_id),
    );
}

#[tokio::test]
async fn a_gap_in_the_log_fails() {
    let p = plane().await;
    let cause = first_event(&p).await;
    append_raw(
        &p,
        ("RUN", p.first.run_id.as_uuid()),
        p.first.correlation_id.as_uuid(),
        Some(cause),
        true,
    )
    .await;
    assert_fails(
        &check(&p.db).await,
        "gap-free",
        &format!("tenant {}", p.tenant),
    );
}

#[tokio::test]
async fn an_outbox_entry_without_its_effect_fails() {
    let p = plane().await;
    let entry = p.db.scalar("SELECT count(*) FROM outbox_events").await;
    assert_eq!(entry, 1);
    p.db.exec(
        "ALTER TABLE outbox_events DROP CONSTRAINT outbox_events_effect_fkey;
         UPDATE outbox_events SET aggregate_id = gen_random_uuid();",
    )
    .await;
    assert_fails(
        &check(&p.db).await,
        "outbox entry has its effect",
        "has no effect",
    );
}

async fn first_event(p: &Plane) -> uuid::Uuid {
    first_event_of(p, p.first.correlation_id.as_uuid()).await
}

/// The root event of a correlation, read as the login.
async fn first_event_of(p: &Plane, correlation: uuid::Uuid) -> uuid::Uuid {
    p.db.text(&format!(
        "SELECT id::text FROM orchestration_events
         WHERE correlation_id = '{correlation}' AND causation_id IS NULL"
    ))
    .await
    .parse()
    .unwrap()
}

#[tokio::test]
async fn a_projection_that_disagrees_with_fresh_rows_fails() {
    let p = plane().await;
    pplane_store::projections::projections_refresh(&mut p.db.admin().await)
        .await
        .unwrap();
    assert!(check(&p.db).await.passed());
    p.db.exec(&format!(
        "UPDATE run_summary SET steps_total = 9, updated_at = now() + interval '1 minute'
         WHERE run_id = '{}'",
        p.first.run_id
    ))
    .await;
    assert_fails(
        &check(&p.db).await,
        "projected step totals",
        &format!("run {}: projected 9 steps", p.first.run_id),
    );
}

#[tokio::test]
async fn a_pending_count_moved_behind_the_outbox_fails_naming_the_tenant() {
    let p = plane().await;
    p.db.exec(&format!(
        "UPDATE tenant_event_heads SET pending_effects = pending_effects + 5 \
         WHERE tenant_id = '{}'",
        p.tenant
    ))
    .await;
    assert_fails(
        &check(&p.db).await,
        "pending-effect counts",
        &format!("tenant {}: counted 6 pending effects", p.tenant),
    );
}
