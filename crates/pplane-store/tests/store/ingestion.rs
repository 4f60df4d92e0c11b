//! Idempotent signal ingestion: the root of every trace.

use pplane_domain::Actor;
use pplane_store::operations::ingest::{signal_ingest, SignalInput};
use pplane_store::operations::runs::run_start;
use pplane_store::operations::Origin;
use pplane_store::repositories::events::events_by_correlation;
use pplane_store::testing::{signal_ingest_alone, TestDb};
use pplane_store::{StoreError, StoreOptions};
use serde_json::json;

use crate::support::scalar_as;

fn input(source_id: &str, payload: serde_json::Value) -> SignalInput {
    SignalInput {
        channel: "slack".into(),
        source_id: source_id.into(),
        payload,
        domain_refs: json!({ "ticket": "T-42" }),
        actor: "external:slack".parse::<Actor>().unwrap(),
    }
}

/// A new signal makes a signal, a run and two events, all with one fresh
/// correlation id; SIGNAL_RECEIVED is the root and causes RUN_CREATED.
#[tokio::test]
async fn a_new_signal_starts_a_run_and_its_trace() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;

    let got = signal_ingest_alone(
        &store,
        tenant,
        user,
        &input("m-1", json!({ "text": "hello" })),
    )
    .await
    .unwrap();
    assert!(!got.duplicate);

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let events = events_by_correlation(tx.conn(), tenant, got.correlation_id)
        .await
        .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["SIGNAL_RECEIVED", "RUN_CREATED"]);
    assert_eq!(events[0].causation_id, None, "the root has no cause");
    assert_eq!(events[1].causation_id, Some(events[0].id));
    assert_eq!(events[0].aggregate_id, got.signal_id.as_uuid());
    assert_eq!(events[1].aggregate_id, got.run_id.as_uuid());
    assert!(events
        .iter()
        .all(|e| e.actor.to_string() == "external:slack" && e.schema_version == 1));
    drop(tx);

    let mut admin = db.admin().await;
    let ctx = Some((tenant, user));
    let corr = got.correlation_id;
    for table in ["signals", "runs"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE correlation_id = '{corr}'");
        assert_eq!(
            scalar_as(&mut admin, "pplane_app", ctx, &sql).await,
            1,
            "{table}"
        );
    }
}

/// The same source key again returns the original ids, flagged duplicate,
/// and writes nothing; with different content it is a conflict.
#[tokio::test]
async fn a_duplicate_returns_the_original_and_writes_nothing() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let first = signal_ingest_alone(
        &store,
        tenant,
        user,
        &input("m-1", json!({ "a": 1, "b": [1, 2] })),
    )
    .await
    .unwrap();
    let mut admin = db.admin().await;
    let count_events = "SELECT count(*) FROM orchestration_events";
    let before = scalar_as(&mut admin, "pplane_app", Some((tenant, user)), count_events).await;

    // Key order does not matter: PostgreSQL compares the JSON values.
    let again = signal_ingest_alone(
        &store,
        tenant,
        user,
        &input("m-1", json!({ "b": [1, 2], "a": 1 })),
    )
    .await
    .unwrap();
    assert!(again.duplicate);
    assert_eq!(
        (again.signal_id, again.correlation_id, again.run_id),
        (first.signal_id, first.correlation_id, first.run_id)
    );
    assert_eq!(
        scalar_as(&mut admin, "pplane_app", Some((tenant, user)), count_events).await,
        before
    );

    let err = signal_ingest_alone(&store, tenant, user, &input("m-1", json!({ "a": 2 })))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { .. }),
        "{err}"
    );
    assert_eq!(
        scalar_as(&mut admin, "pplane_app", Some((tenant, user)), count_events).await,
        before
    );

    let other_channel = SignalInput {
        channel: "email".into(),
        ..input("m-1", json!({ "a": 2 }))
    };
    assert!(
        !signal_ingest_alone(&store, tenant, user, &other_channel)
            .await
            .unwrap()
            .duplicate,
        "keys are per channel"
    );
}

/// 32 identical ingestions at once make exactly one signal and one
/// SIGNAL_RECEIVED; every caller gets the same ids.
#[tokio::test]
async fn concurrent_identical_ingestions_make_one_signal() {
    let db = TestDb::migrated().await;
    let setup = db.store().await;
    let (tenant, user) = db.tenant(&setup).await;
    let store = pplane_store::Store::connect_with(
        db.url(),
        StoreOptions {
            max_connections: 32,
        },
    )
    .await
    .unwrap();

    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                signal_ingest_alone(&store, tenant, user, &input("race", json!({ "n": 1 }))).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().expect("every caller succeeds"));
    }
    assert_eq!(
        results.iter().filter(|r| !r.duplicate).count(),
        1,
        "exactly one made it"
    );
    assert!(results
        .iter()
        .all(|r| r.signal_id == results[0].signal_id && r.run_id == results[0].run_id));

    let mut admin = db.admin().await;
    let ctx = Some((tenant, user));
    assert_eq!(
        scalar_as(
            &mut admin,
            "pplane_app",
            ctx,
            "SELECT count(*) FROM signals WHERE source_id = 'race'"
        )
        .await,
        1
    );
    let received = "SELECT count(*) FROM orchestration_events WHERE event_type = 'SIGNAL_RECEIVED'";
    assert_eq!(scalar_as(&mut admin, "pplane_app", ctx, received).await, 1);
    let max_seq = "SELECT max(sequence_number) FROM orchestration_events";
    assert_eq!(
        scalar_as(&mut admin, "pplane_app", ctx, max_seq).await,
        2,
        "the losers' appends left no gap"
    );
}

/// Bad input is refused with a clear error before anything is written.
#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let huge = json!({ "blob": "x".repeat(300 * 1024) });
    let cases = [
        (
            SignalInput {
                channel: "".into(),
                ..input("a", json!({}))
            },
            "source_channel",
        ),
        (input(&"s".repeat(300), json!({})), "source_id"),
        (input("b", huge), "payload"),
        (
            SignalInput {
                domain_refs: json!([1]),
                ..input("c", json!({}))
            },
            "domain_refs",
        ),
    ];
    for (bad, field) in cases {
        let err = signal_ingest_alone(&store, tenant, user, &bad)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(field), "{err}");
    }
    let mut admin = db.admin().await;
    let n = scalar_as(
        &mut admin,
        "pplane_app",
        Some((tenant, user)),
        "SELECT count(*) FROM signals",
    )
    .await;
    assert_eq!(n, 0);
}

/// Ingestion works in the caller's transaction like every operation: the
/// signal and the run's start commit together, or neither stays.
#[tokio::test]
async fn a_signal_commits_or_rolls_back_with_the_callers_transaction() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let by = Origin::by("agent:planner".parse().unwrap());

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let dropped = signal_ingest(&mut tx, &input("t-1", json!({})))
        .await
        .unwrap();
    run_start(&mut tx, dropped.run_id, &by).await.unwrap();
    tx.rollback().await.unwrap();
    let again = signal_ingest_alone(&store, tenant, user, &input("t-1", json!({})))
        .await
        .unwrap();
    assert!(!again.duplicate, "the rolled-back signal left nothing");
    assert_ne!(again.signal_id, dropped.signal_id);

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let kept = signal_ingest(&mut tx, &input("t-2", json!({})))
        .await
        .unwrap();
    let started = run_start(&mut tx, kept.run_id, &by).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(started.status.as_str(), "RUNNING");
    let retried = signal_ingest_alone(&store, tenant, user, &input("t-2", json!({})))
        .await
        .unwrap();
    assert!(retried.duplicate);
    assert_eq!(retried.run_id, kept.run_id);
}
