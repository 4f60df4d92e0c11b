//! Every query of the walkthrough's debugging procedure, run under EXPLAIN as
//! pplane_app on a populated database, reads its tables through an index, and
//! the row-level security membership test runs once per statement.

use pplane_domain::{TenantId, UserId};
use pplane_store::queries::debugging::{DebugParam, DEBUG_QUERIES};
use pplane_store::testing::TestDb;
use pplane_store::Admin;
use serde_json::Value;
use sqlx::Connection;
use uuid::Uuid;

use crate::support::exec;

const RUNS_PER_TENANT: u32 = 2000;

/// Fills one tenant with `runs` runs of three steps (the last one failed), a
/// tool call per step, an effect and outbox entry per run, and two events
/// per run.
pub(crate) async fn populate(admin: &mut Admin, tenant: TenantId, user: UserId, runs: u32) {
    let sql = format!(
        "SET LOCAL ROLE pplane_app; SET LOCAL app.tenant_id = '{tenant}'; SET LOCAL app.user_id = '{user}';
         INSERT INTO signals (tenant_id, id, source_channel, source_id, correlation_id, actor)
             SELECT '{tenant}', gen_random_uuid(), 'chat', 's' || g, gen_random_uuid(), 'agent:load'
             FROM generate_series(1, {runs}) g;
         INSERT INTO runs (tenant_id, id, signal_id, correlation_id, actor)
             SELECT tenant_id, gen_random_uuid(), id, correlation_id, 'agent:load' FROM signals;
         INSERT INTO steps (tenant_id, id, run_id, step_index, step_type, status, correlation_id, actor)
             SELECT r.tenant_id, gen_random_uuid(), r.id, i, 'work',
                    CASE WHEN i = 2 THEN 'FAILED' ELSE 'COMPLETED' END, r.correlation_id, 'agent:load'
             FROM runs r CROSS JOIN generate_series(0, 2) i;
         INSERT INTO tool_calls (tenant_id, id, step_id, tool_name, status, correlation_id, actor)
             SELECT tenant_id, gen_random_uuid(), id, 'search', status, correlation_id, 'agent:load' FROM steps;
         INSERT INTO effects (tenant_id, id, run_id, effect_type, effect_spec, idempotency_key, correlation_id, actor)
             SELECT tenant_id, gen_random_uuid(), id, 'EMAIL', jsonb_build_object('idempotency_key', 'k' || id),
                    'k' || id, correlation_id, 'agent:load' FROM runs;
         INSERT INTO outbox_events (tenant_id, id, event_type, aggregate_id, payload, idempotency_key, correlation_id, actor)
             SELECT tenant_id, gen_random_uuid(), 'EMAIL', id, '{{}}', idempotency_key, correlation_id, 'agent:load'
             FROM effects;
         INSERT INTO orchestration_events (tenant_id, id, sequence_number, event_type, aggregate_type, aggregate_id,
                                           aggregate_version, correlation_id, causation_id, actor)
             SELECT tenant_id, id, 2 * row_number() OVER (ORDER BY id) - 1, 'SIGNAL_RECEIVED', 'SIGNAL', id, 1,
                    correlation_id, NULL, 'agent:load' FROM signals;
         INSERT INTO orchestration_events (tenant_id, id, sequence_number, event_type, aggregate_type, aggregate_id,
                                           aggregate_version, correlation_id, causation_id, actor)
             SELECT r.tenant_id, r.id, e.sequence_number + 1, 'RUN_CREATED', 'RUN', r.id, 1,
                    r.correlation_id, e.id, 'agent:load'
             FROM runs r JOIN orchestration_events e ON e.id = r.signal_id;"
    );
    let mut tx = admin.conn().begin().await.unwrap();
    sqlx::raw_sql(&sql).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

/// A value of each parameter kind, from the given tenant's data.
async fn sample(admin: &mut Admin, tenant: TenantId, user: UserId, kind: DebugParam) -> Uuid {
    let sql = match kind {
        DebugParam::CorrelationId => "SELECT correlation_id FROM runs LIMIT 1",
        DebugParam::RunId => "SELECT id FROM runs LIMIT 1",
        DebugParam::StepId => "SELECT id FROM steps WHERE status = 'FAILED' LIMIT 1",
        DebugParam::EffectId => "SELECT id FROM effects LIMIT 1",
        DebugParam::OutboxId => "SELECT id FROM outbox_events LIMIT 1",
    };
    let mut tx = admin.conn().begin().await.unwrap();
    let ctx = format!("SET LOCAL ROLE pplane_app; SET LOCAL app.tenant_id = '{tenant}'; SET LOCAL app.user_id = '{user}'");
    sqlx::raw_sql(&ctx).execute(&mut *tx).await.unwrap();
    let id = sqlx::query_scalar(sql).fetch_one(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    id
}

fn plan_nodes<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(node);
    for child in node["Plans"].as_array().into_iter().flatten() {
        plan_nodes(child, out);
    }
}

#[tokio::test]
async fn every_debugging_query_uses_an_index() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let mut admin = db.admin().await;
    let mut tenants = Vec::new();
    for _ in 0..3 {
        let (t, u) = db.tenant(&store).await;
        populate(&mut admin, t, u, RUNS_PER_TENANT).await;
        tenants.push((t, u));
    }
    exec(&mut admin, "SET ROLE pplane_owner; ANALYZE; RESET ROLE").await;
    let (tenant, user) = tenants[1];

    for q in DEBUG_QUERIES {
        let param = sample(&mut admin, tenant, user, q.param).await;
        let mut tx = admin.conn().begin().await.unwrap();
        let ctx = format!("SET LOCAL ROLE pplane_app; SET LOCAL app.tenant_id = '{tenant}'; SET LOCAL app.user_id = '{user}'");
        sqlx::raw_sql(&ctx).execute(&mut *tx).await.unwrap();
        let plan: Value = sqlx::query_scalar(&format!("EXPLAIN (FORMAT JSON) {}", q.sql))
            .bind(param)
            .fetch_one(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", q.name));
        tx.rollback().await.unwrap();

        let mut nodes = Vec::new();
        plan_nodes(&plan[0]["Plan"], &mut nodes);
        for need in q.needs {
            let scans: Vec<&str> = nodes
                .iter()
                .filter(|n| n["Relation Name"] == need.table)
                .map(|n| n["Node Type"].as_str().unwrap())
                .collect();
            assert!(
                !scans.is_empty(),
                "{}: {} not read at all? {plan}",
                q.name,
                need.table
            );
            assert!(
                scans.iter().all(|s| *s != "Seq Scan"),
                "{}: sequential scan on {} ({scans:?})",
                q.name,
                need.table
            );
        }
        let per_row_membership = nodes
            .iter()
            .any(|n| n["Parent Relationship"] == "SubPlan" && n["Relation Name"] == "user_tenants");
        assert!(
            !per_row_membership,
            "{}: the membership test runs per row",
            q.name
        );
        let once = nodes.iter().any(|n| n["Parent Relationship"] == "InitPlan");
        assert!(
            once,
            "{}: the membership test should be an InitPlan (once per statement)",
            q.name
        );
    }
}

/// Each query's routed form (its tenant filter spelled out, for Citus)
/// answers exactly as the walkthrough's form does under row-level security.
#[tokio::test]
async fn each_routed_form_answers_as_the_walkthroughs_query() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let mut admin = db.admin().await;
    let mut tenants = Vec::new();
    for _ in 0..2 {
        let (t, u) = db.tenant(&store).await;
        populate(&mut admin, t, u, 20).await;
        tenants.push((t, u));
    }
    let (tenant, user) = tenants[0];
    for q in DEBUG_QUERIES {
        let param = sample(&mut admin, tenant, user, q.param).await;
        let mut answers = Vec::new();
        for sql in [q.sql, q.routed] {
            let mut tx = admin.conn().begin().await.unwrap();
            let ctx = format!("SET LOCAL ROLE pplane_app; SET LOCAL app.tenant_id = '{tenant}'; SET LOCAL app.user_id = '{user}'");
            sqlx::raw_sql(&ctx).execute(&mut *tx).await.unwrap();
            // Every row as JSON, in the query's order.
            let wrapped = if sql.starts_with("UPDATE") {
                format!("WITH u AS ({sql} RETURNING id, status, retry_count) SELECT coalesce(jsonb_agg(to_jsonb(u)), '[]') FROM u")
            } else {
                format!("SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]') FROM ({sql}) x")
            };
            let mut query = sqlx::query_scalar::<_, Value>(&wrapped).bind(param);
            if sql == q.routed {
                query = query.bind(tenant.as_uuid());
            }
            let rows = query
                .fetch_one(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", q.name));
            tx.rollback().await.unwrap();
            answers.push(rows);
        }
        // populate() writes no STEP_FAILED event; every other query finds rows.
        let empty = answers[0].as_array().is_some_and(|a| a.is_empty());
        assert_eq!(
            empty,
            q.name == "diagnose run 2: failure events",
            "{}: rows to compare",
            q.name
        );
        assert_eq!(answers[0], answers[1], "{}", q.name);
    }
}
