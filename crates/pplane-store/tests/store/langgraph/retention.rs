//! Retention: deleting a thread, runs, or all but the newest checkpoints
//! takes the documents and records each deleted checkpoint.

use pplane_domain::{TenantId, UserId};
use pplane_store::checks::data::data_check;
use pplane_store::operations::langgraph::{
    langgraph_checkpoints_delete, langgraph_tuple_get, langgraph_writes_put, PendingWrite,
    Retention, Serialized,
};
use pplane_store::testing::TestDb;
use pplane_store::Store;
use serde_json::json;

use super::{key, put, stored, value};
use crate::support::agent;

async fn deleted(store: &Store, tenant: TenantId, user: UserId, what: Retention) -> Vec<String> {
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let changed = langgraph_checkpoints_delete(&mut tx, &what, &agent())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        changed.events.len(),
        changed.value.len(),
        "one event per deleted checkpoint"
    );
    changed
        .value
        .into_iter()
        .map(|k| format!("{}/{}/{}", k.thread_id, k.checkpoint_ns, k.checkpoint_id))
        .collect()
}

#[tokio::test]
async fn deleting_a_thread_takes_its_documents_records_each_and_keeps_its_run() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    for (thread, id) in [("gone", "01"), ("gone", "02"), ("kept", "01")] {
        let p = put(
            key(thread, "", id),
            None,
            json!({ "a": id }),
            0,
            vec![value("a", id, b"v")],
        );
        stored(&store, tenant, user, &p).await.unwrap();
    }
    let stray = PendingWrite {
        task_id: "t".into(),
        idx: 0,
        channel: "x".into(),
        value: Serialized {
            kind: "msgpack".into(),
            bytes: None,
        },
        task_path: String::new(),
    };
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    langgraph_writes_put(&mut tx, &key("gone", "", "09"), &[stray], &agent())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let gone = deleted(&store, tenant, user, Retention::ThreadDelete("gone".into())).await;
    assert_eq!(gone, ["gone//01", "gone//02"]);
    for (table, left) in [
        ("langgraph_checkpoints", 1),
        ("langgraph_blobs", 1),
        ("langgraph_writes", 0),
    ] {
        assert_eq!(
            db.scalar(&format!("SELECT count(*) FROM {table}")).await,
            left,
            "{table}"
        );
    }
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM orchestration_events d JOIN orchestration_events s ON s.id = d.causation_id
             WHERE d.event_type = 'CHECKPOINT_DELETED' AND s.event_type = 'CHECKPOINT_SAVED'
               AND s.aggregate_id = d.aggregate_id AND d.event_data->>'reason' = 'thread deleted'"
        )
        .await,
        2,
        "each deletion hangs from the record it deletes"
    );
    assert!(deleted(
        &store,
        tenant,
        user,
        Retention::ThreadDelete("never".into())
    )
    .await
    .is_empty());

    // The thread's run is its history: a later checkpoint continues it.
    let again = stored(
        &store,
        tenant,
        user,
        &put(key("gone", "", "03"), None, json!({}), 0, vec![]),
    )
    .await
    .unwrap();
    assert_eq!(db.scalar("SELECT count(*) FROM runs").await, 2);
    assert_eq!(
        db.text(&format!(
            "SELECT status FROM runs WHERE id = '{}'",
            again.run_id
        ))
        .await,
        "RUNNING"
    );
    let report = data_check(&mut db.admin().await).await.unwrap();
    let failures: Vec<_> = report.failures().map(|r| (&r.check, &r.evidence)).collect();
    assert!(report.passed(), "{failures:#?}");
}

#[tokio::test]
async fn keep_latest_keeps_the_newest_of_each_namespace_with_its_writes_and_values() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    // `a` changes at every checkpoint, `b` only at the first: the newest
    // still names b's first value, which must stay.
    let puts = [
        put(
            key("p", "", "01"),
            None,
            json!({ "a": "1", "b": "1" }),
            0,
            vec![value("a", "1", b"a1"), value("b", "1", b"b1")],
        ),
        put(
            key("p", "", "02"),
            Some("01"),
            json!({ "a": "2", "b": "1" }),
            1,
            vec![value("a", "2", b"a2")],
        ),
        put(
            key("p", "", "03"),
            Some("02"),
            json!({ "a": "3", "b": "1" }),
            2,
            vec![value("a", "3", b"a3")],
        ),
        put(key("p", "child", "04"), None, json!({}), 0, vec![]),
        put(key("p", "child", "05"), Some("04"), json!({}), 1, vec![]),
    ];
    for p in &puts {
        stored(&store, tenant, user, p).await.unwrap();
    }
    let write = |id: &str| {
        let w = PendingWrite {
            task_id: "t".into(),
            idx: 0,
            channel: "x".into(),
            value: Serialized {
                kind: "msgpack".into(),
                bytes: Some(id.as_bytes().to_vec()),
            },
            task_path: String::new(),
        };
        (key("p", "", id), w)
    };
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    for (k, w) in [write("02"), write("03")] {
        langgraph_writes_put(&mut tx, &k, &[w], &agent())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let gone = deleted(&store, tenant, user, Retention::KeepLatest("p".into())).await;
    assert_eq!(gone, ["p//01", "p//02", "p/child/04"]);
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let newest = langgraph_tuple_get(&mut tx, "p", "", None)
        .await
        .unwrap()
        .unwrap();
    tx.rollback().await.unwrap();
    let mut values: Vec<Vec<u8>> = newest
        .values
        .iter()
        .map(|v| v.value.bytes.clone().unwrap())
        .collect();
    values.sort();
    assert_eq!(
        values,
        [b"a3".to_vec(), b"b1".to_vec()],
        "b's first value is still named"
    );
    assert_eq!(newest.writes.len(), 1, "the newest keeps its writes");
    assert_eq!(
        db.scalar("SELECT count(*) FROM langgraph_blobs").await,
        2,
        "a1 and a2 went"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM langgraph_writes").await, 1);
}

#[tokio::test]
async fn deleting_runs_takes_only_their_checkpoints() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    for (thread, id, run) in [("x", "01", "r1"), ("x", "02", "r2"), ("y", "03", "r1")] {
        let mut p = put(key(thread, "", id), None, json!({}), 0, vec![]);
        p.metadata["run_id"] = json!(run);
        stored(&store, tenant, user, &p).await.unwrap();
    }
    let gone = deleted(
        &store,
        tenant,
        user,
        Retention::RunsDelete(vec!["r1".into()]),
    )
    .await;
    assert_eq!(gone, ["x//01", "y//03"]);
    assert_eq!(
        db.text("SELECT checkpoint_id FROM langgraph_checkpoints")
            .await,
        "02"
    );
    assert!(deleted(&store, tenant, user, Retention::RunsDelete(vec![]))
        .await
        .is_empty());
}
