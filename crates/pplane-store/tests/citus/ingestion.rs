//! Idempotent ingestion on Citus: the unique key (tenant_id, channel,
//! source_id) lives in the tenant's shard, so concurrent duplicates race on
//! one worker exactly as on one server.

use pplane_domain::Actor;
use pplane_store::operations::ingest::SignalInput;
use pplane_store::testing::citus::CitusDb;
use pplane_store::testing::signal_ingest_alone;
use serde_json::json;

fn input(source_id: &str) -> SignalInput {
    SignalInput {
        channel: "slack".into(),
        source_id: source_id.into(),
        payload: json!({ "n": 1 }),
        domain_refs: json!({ "ticket": "T-42" }),
        actor: "external:slack".parse::<Actor>().unwrap(),
    }
}

/// 32 identical ingestions at once make exactly one signal, one run and one
/// SIGNAL_RECEIVED; every caller gets the same ids; the losers' appends
/// leave no gap in the tenant's sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_duplicates_make_one_signal() {
    let db = CitusDb::migrated().await;
    let store = db.store(32).await;
    let (tenant, user) = db.tenant(&store).await;
    let (other, other_user) = db.tenant(&store).await;

    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(
                async move { signal_ingest_alone(&store, tenant, user, &input("race")).await },
            )
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().expect("every caller succeeds"));
    }
    assert_eq!(results.iter().filter(|r| !r.duplicate).count(), 1);
    assert!(results
        .iter()
        .all(|r| r.signal_id == results[0].signal_id && r.run_id == results[0].run_id));
    // The same source id in another tenant is another signal.
    let elsewhere = signal_ingest_alone(&store, other, other_user, &input("race"))
        .await
        .unwrap();
    assert!(!elsewhere.duplicate);

    let count = |sql: String| {
        let db = &db;
        async move { db.text(&sql).await }
    };
    let t = tenant.as_uuid();
    assert_eq!(
        count(format!(
            "SELECT count(*)::text FROM signals WHERE tenant_id = '{t}'"
        ))
        .await,
        "1"
    );
    assert_eq!(
        count(format!(
            "SELECT count(*)::text FROM runs WHERE tenant_id = '{t}'"
        ))
        .await,
        "1"
    );
    assert_eq!(
        count(format!(
            "SELECT count(*) || ' ' || max(sequence_number) FROM orchestration_events
             WHERE tenant_id = '{t}' AND event_type = 'SIGNAL_RECEIVED'"
        ))
        .await,
        "1 1"
    );
    assert_eq!(
        count(format!(
            "SELECT string_agg(sequence_number::text, ',' ORDER BY sequence_number)
             FROM orchestration_events WHERE tenant_id = '{t}'"
        ))
        .await,
        "1,2",
        "the losers' appends left no gap"
    );
}
