//! Copying a thread: every checkpoint of every namespace, with the values it
//! names and its pending writes, into a thread of its own run.

use pplane_store::operations::langgraph::{
    langgraph_checkpoint_search, langgraph_thread_copy, langgraph_tuple_get, langgraph_writes_put,
    CheckpointSearch, PendingWrite, Serialized,
};
use pplane_store::testing::TestDb;
use pplane_store::StoreError;
use serde_json::json;

use super::{key, put, stored, value};
use crate::support::agent;

#[tokio::test]
async fn a_copy_has_every_checkpoint_value_and_write_and_a_run_of_its_own() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let source = [
        put(
            key("src", "", "01"),
            None,
            json!({ "a": "1" }),
            0,
            vec![value("a", "1", b"a1")],
        ),
        put(
            key("src", "", "02"),
            Some("01"),
            json!({ "a": "2" }),
            1,
            vec![value("a", "2", b"a2")],
        ),
        put(key("src", "child", "03"), None, json!({}), 0, vec![]),
    ];
    let mut runs = Vec::new();
    for p in &source {
        runs.push(stored(&store, tenant, user, p).await.unwrap().run_id);
    }
    let write = PendingWrite {
        task_id: "t".into(),
        idx: 0,
        channel: "x".into(),
        value: Serialized {
            kind: "msgpack".into(),
            bytes: Some(b"w".to_vec()),
        },
        task_path: String::new(),
    };
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    langgraph_writes_put(&mut tx, &key("src", "", "02"), &[write], &agent())
        .await
        .unwrap();
    let copied = langgraph_thread_copy(&mut tx, "src", "dst", &agent())
        .await
        .unwrap();
    assert_eq!(copied.value.len(), 3);
    assert!(!copied.events.is_empty(), "each copy is recorded");

    let newest = langgraph_tuple_get(&mut tx, "dst", "", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest.key.checkpoint_id, "02");
    assert_eq!(newest.parent_checkpoint_id.as_deref(), Some("01"));
    assert_eq!(newest.metadata["step"], 1);
    assert_eq!(newest.values[0].value.bytes.as_deref(), Some(&b"a2"[..]));
    assert_eq!(newest.writes.len(), 1);
    let first = langgraph_tuple_get(&mut tx, "dst", "", Some("01"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.values[0].value.bytes.as_deref(), Some(&b"a1"[..]));
    assert!(langgraph_tuple_get(&mut tx, "dst", "child", Some("03"))
        .await
        .unwrap()
        .is_some());
    let in_source = CheckpointSearch {
        thread_id: Some("src".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        langgraph_checkpoint_search(&mut tx, &in_source)
            .await
            .unwrap()
            .len(),
        3,
        "the source is unchanged"
    );

    // Nothing to copy: no thread is opened for the target.
    let nothing = langgraph_thread_copy(&mut tx, "never", "empty", &agent())
        .await
        .unwrap();
    assert!(nothing.value.is_empty() && nothing.events.is_empty());
    let onto_itself = langgraph_thread_copy(&mut tx, "src", "src", &agent())
        .await
        .unwrap_err();
    assert!(
        matches!(onto_itself, StoreError::InvalidInput(_)),
        "{onto_itself}"
    );
    tx.commit().await.unwrap();
    assert_eq!(
        db.scalar("SELECT count(*) FROM runs").await,
        2,
        "the copy has a run of its own"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM langgraph_threads WHERE thread_id = 'empty'")
            .await,
        0
    );
    runs.dedup();
    assert_eq!(runs.len(), 1);
}
