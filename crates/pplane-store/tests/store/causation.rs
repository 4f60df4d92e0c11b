//! Causation forms a tree: each event hangs from the event of what it
//! changed, so parallel tool calls of one step, and steps scheduled side by
//! side, are siblings. A cause the caller names must be an event of the same
//! tenant and correlation; anything else is refused and nothing is written.

use pplane_domain::{EventId, TenantId, UserId};
use pplane_store::operations::ingest::Ingested;
use pplane_store::operations::runs::run_start;
use pplane_store::operations::steps::{step_add, step_move, StepMove};
use pplane_store::operations::tool_calls::tool_call_start;
use pplane_store::operations::Origin;
use pplane_store::repositories::events::event_causal_chain;
use pplane_store::testing::TestDb;
use pplane_store::{Store, StoreError};
use serde_json::json;

use crate::support::{agent, ingest, step_input};

/// (event type, its cause's event type) for every event of a correlation.
async fn edges(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    got: &Ingested,
) -> Vec<(String, String)> {
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let chain = event_causal_chain(tx.conn(), tenant, got.correlation_id)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let mut edges: Vec<(String, String)> = chain
        .iter()
        .filter_map(|l| {
            let parent = chain.iter().find(|p| Some(p.id) == l.causation_id)?;
            Some((l.event_type.to_string(), parent.event_type.to_string()))
        })
        .collect();
    edges.sort();
    edges
}

#[tokio::test]
async fn parallel_tool_calls_and_parallel_steps_are_siblings() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let got = ingest(&store, tenant, user, "fan-out").await;
    let by = agent();
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    run_start(&mut tx, got.run_id, &by).await.unwrap();
    let a = step_add(&mut tx, got.run_id, &step_input("search"), &by)
        .await
        .unwrap();
    step_add(&mut tx, got.run_id, &step_input("summarise"), &by)
        .await
        .unwrap();
    let a = a.id;
    step_move(&mut tx, a, &StepMove::Start, &by).await.unwrap();
    for tool in ["web.search", "kb.search", "crm.lookup"] {
        tool_call_start(&mut tx, a, tool, &json!({}), &by)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let edges = edges(&store, tenant, user, &got).await;
    let count = |child: &str, parent: &str| {
        edges
            .iter()
            .filter(|(c, p)| c == child && p == parent)
            .count()
    };
    assert_eq!(count("TOOL_CALL_STARTED", "STEP_STARTED"), 3, "{edges:#?}");
    assert_eq!(count("STEP_SCHEDULED", "RUN_STARTED"), 2, "{edges:#?}");
    assert_eq!(count("RUN_STARTED", "RUN_CREATED"), 1);
}

#[tokio::test]
async fn a_bogus_or_foreign_cause_is_refused_and_nothing_is_written() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let (other_tenant, other_user) = db.tenant(&store).await;
    let mine = ingest(&store, tenant, user, "mine").await;
    let sibling = ingest(&store, tenant, user, "sibling").await;
    let foreign = ingest(&store, other_tenant, other_user, "foreign").await;
    let events = || db.scalar("SELECT count(*) FROM orchestration_events");
    let before = events().await;

    // An event of this tenant, another correlation; an event of another
    // tenant; an id that is no event at all.
    let first_event = |corr: uuid::Uuid| {
        format!("SELECT count(*) FROM orchestration_events WHERE correlation_id = '{corr}'")
    };
    assert_eq!(
        db.scalar(&first_event(sibling.correlation_id.as_uuid()))
            .await,
        2
    );
    let other_story: uuid::Uuid = db
        .text(&format!(
            "SELECT id::text FROM orchestration_events WHERE correlation_id = '{}' LIMIT 1",
            sibling.correlation_id
        ))
        .await
        .parse()
        .unwrap();
    let other_tenants: uuid::Uuid = db
        .text(&format!(
            "SELECT id::text FROM orchestration_events WHERE correlation_id = '{}' LIMIT 1",
            foreign.correlation_id
        ))
        .await
        .parse()
        .unwrap();
    for (cause, expect_elsewhere) in [
        (other_story, true),
        (other_tenants, false),
        (uuid::Uuid::now_v7(), false),
    ] {
        let origin = Origin {
            caused_by: Some(EventId::from_uuid(cause)),
            ..agent()
        };
        let mut tx = store.tenant_tx(tenant, user).await.unwrap();
        let err = run_start(&mut tx, mine.run_id, &origin).await.unwrap_err();
        drop(tx);
        match err {
            StoreError::CauseElsewhere { .. } => assert!(expect_elsewhere, "{err}"),
            StoreError::CauseUnknown { .. } => assert!(!expect_elsewhere, "{err}"),
            other => panic!("{other}"),
        }
    }
    assert_eq!(events().await, before, "nothing was written");

    // A cause from the same story is taken as given.
    let root: uuid::Uuid = db
        .text(&format!(
            "SELECT id::text FROM orchestration_events
             WHERE correlation_id = '{}' AND event_type = 'SIGNAL_RECEIVED'",
            mine.correlation_id
        ))
        .await
        .parse()
        .unwrap();
    let origin = Origin {
        caused_by: Some(EventId::from_uuid(root)),
        ..agent()
    };
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    run_start(&mut tx, mine.run_id, &origin).await.unwrap();
    tx.commit().await.unwrap();
    let edges = edges(&store, tenant, user, &mine).await;
    assert!(
        edges.contains(&("RUN_STARTED".into(), "SIGNAL_RECEIVED".into())),
        "{edges:?}"
    );
}
