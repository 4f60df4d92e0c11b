//! Storing and reading LangGraph checkpoints, values and writes.

use pplane_store::checks::data::data_check;
use pplane_store::operations::langgraph::{
    langgraph_checkpoint_put, langgraph_checkpoint_search, langgraph_tuple_get,
    langgraph_writes_put, CheckpointSearch, PendingWrite, Serialized,
};
use pplane_store::testing::TestDb;
use pplane_store::{StoreError, TenantTx};
use serde_json::json;

use super::{key, put, stored, value};
use crate::support::agent;

#[tokio::test]
async fn a_threads_checkpoints_are_checkpoints_of_one_run_and_read_back_with_their_values() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let first = put(
        key("t-1", "", "01"),
        None,
        json!({ "a": "1", "b": "1" }),
        0,
        vec![value("a", "1", b"alpha"), value("b", "1", b"beta")],
    );
    let one = stored(&store, tenant, user, &first).await.unwrap();
    // Only `a` changes: its new version is stored, `b`'s stays as it was.
    let second = put(
        key("t-1", "", "02"),
        Some("01"),
        json!({ "a": "2", "b": "1" }),
        1,
        vec![value("a", "2", b"alpha2")],
    );
    let two = stored(&store, tenant, user, &second).await.unwrap();
    assert_eq!(one.run_id, two.run_id, "one thread, one run");

    assert_eq!(
        db.scalar("SELECT count(*) FROM langgraph_blobs").await,
        3,
        "one value per version"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM runs").await, 1);
    assert_eq!(
        db.text("SELECT status FROM runs").await,
        "RUNNING",
        "the thread's run is started by its first checkpoint"
    );
    assert_eq!(
        db.text("SELECT source_channel || '/' || source_id FROM signals")
            .await,
        "langgraph/t-1"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM run_checkpoints").await, 2);
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM orchestration_events WHERE event_type = 'CHECKPOINT_SAVED'"
        )
        .await,
        2
    );

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let latest = langgraph_tuple_get(&mut tx, "t-1", "", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.key.checkpoint_id, "02");
    assert_eq!(latest.parent_checkpoint_id.as_deref(), Some("01"));
    assert_eq!(latest.metadata["step"], 1);
    let mut values: Vec<(String, Vec<u8>)> = latest
        .values
        .iter()
        .map(|v| (v.channel.clone(), v.value.bytes.clone().unwrap()))
        .collect();
    values.sort();
    assert_eq!(
        values,
        [
            ("a".into(), b"alpha2".to_vec()),
            ("b".into(), b"beta".to_vec())
        ]
    );
    let earlier = langgraph_tuple_get(&mut tx, "t-1", "", Some("01"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        earlier
            .values
            .iter()
            .find(|v| v.channel == "a")
            .unwrap()
            .value
            .bytes
            .as_deref(),
        Some(&b"alpha"[..])
    );
    assert!(
        langgraph_tuple_get(&mut tx, "t-1", "child", None)
            .await
            .unwrap()
            .is_none(),
        "namespaces apart"
    );
    assert!(langgraph_tuple_get(&mut tx, "t-2", "", None)
        .await
        .unwrap()
        .is_none());
    tx.rollback().await.unwrap();

    let report = data_check(&mut db.admin().await).await.unwrap();
    let failures: Vec<_> = report.failures().map(|r| (&r.check, &r.evidence)).collect();
    assert!(
        report.passed(),
        "a thread's run and checkpoints pass the data gate: {failures:#?}"
    );
}

#[tokio::test]
async fn pending_writes_are_stored_once_per_task_and_index_and_special_ones_replace() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let k = key("t-w", "", "01");
    let write = |idx: i32, channel: &str, bytes: &[u8]| PendingWrite {
        task_id: "task-1".into(),
        idx,
        channel: channel.into(),
        value: Serialized {
            kind: "msgpack".into(),
            bytes: Some(bytes.to_vec()),
        },
        task_path: "~__pregel_pull, agent".into(),
    };
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    // Before the thread's first checkpoint: the thread opens for them.
    langgraph_writes_put(
        &mut tx,
        &k,
        &[write(0, "x", b"1"), write(1, "y", b"2")],
        &agent(),
    )
    .await
    .unwrap();
    langgraph_writes_put(&mut tx, &k, &[write(0, "x", b"changed")], &agent())
        .await
        .unwrap();
    langgraph_writes_put(&mut tx, &k, &[write(-1, "__error__", b"first")], &agent())
        .await
        .unwrap();
    langgraph_writes_put(&mut tx, &k, &[write(-1, "__error__", b"second")], &agent())
        .await
        .unwrap();
    langgraph_checkpoint_put(
        &mut tx,
        &put(k.clone(), None, json!({}), 0, vec![]),
        &agent(),
    )
    .await
    .unwrap();
    let tuple = langgraph_tuple_get(&mut tx, "t-w", "", Some("01"))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let writes: Vec<(i32, String, Vec<u8>)> = tuple
        .writes
        .iter()
        .map(|w| (w.idx, w.channel.clone(), w.value.bytes.clone().unwrap()))
        .collect();
    assert_eq!(
        writes,
        [
            (-1, "__error__".into(), b"second".to_vec()),
            (0, "x".into(), b"1".to_vec()),
            (1, "y".into(), b"2".to_vec()),
        ]
    );
    assert_eq!(db.scalar("SELECT count(*) FROM runs").await, 1);
}

async fn ids(tx: &mut TenantTx, search: CheckpointSearch) -> Result<Vec<String>, StoreError> {
    let found = langgraph_checkpoint_search(tx, &search).await?;
    Ok(found.into_iter().map(|t| t.key.checkpoint_id).collect())
}

#[tokio::test]
async fn a_search_answers_newest_first_by_thread_namespace_metadata_and_position() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    for (thread, ns, id, step) in [
        ("a", "", "01", 0),
        ("a", "", "03", 1),
        ("a", "child", "04", 0),
        ("b", "", "02", 0),
    ] {
        stored(
            &store,
            tenant,
            user,
            &put(key(thread, ns, id), None, json!({}), step, vec![]),
        )
        .await
        .unwrap();
    }
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let all = CheckpointSearch {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        ids(&mut tx, all.clone()).await.unwrap(),
        ["04", "03", "02", "01"]
    );
    let thread_a = CheckpointSearch {
        thread_id: Some("a".into()),
        checkpoint_ns: Some("".into()),
        ..all.clone()
    };
    assert_eq!(ids(&mut tx, thread_a.clone()).await.unwrap(), ["03", "01"]);
    let step_1 = CheckpointSearch {
        metadata: Some(json!({ "step": 1 })),
        ..all.clone()
    };
    assert_eq!(ids(&mut tx, step_1).await.unwrap(), ["03"]);
    let before = CheckpointSearch {
        before: Some("03".into()),
        ..thread_a.clone()
    };
    assert_eq!(ids(&mut tx, before).await.unwrap(), ["01"]);
    assert_eq!(
        ids(
            &mut tx,
            CheckpointSearch {
                limit: 1,
                ..all.clone()
            }
        )
        .await
        .unwrap(),
        ["04"]
    );
    let refused = ids(&mut tx, CheckpointSearch { limit: 0, ..all })
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::InvalidInput(_)), "{refused}");
}

#[tokio::test]
async fn another_tenants_thread_of_the_same_id_is_another_thread() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (mine, me) = db.tenant(&store).await;
    let (theirs, them) = db.tenant(&store).await;
    let p = put(
        key("shared", "", "01"),
        None,
        json!({ "a": "1" }),
        0,
        vec![value("a", "1", b"mine")],
    );
    let a = stored(&store, mine, me, &p).await.unwrap();
    let mut tx = store.tenant_tx(theirs, them).await.unwrap();
    assert!(langgraph_tuple_get(&mut tx, "shared", "", None)
        .await
        .unwrap()
        .is_none());
    let all = CheckpointSearch {
        limit: 10,
        ..Default::default()
    };
    assert!(langgraph_checkpoint_search(&mut tx, &all)
        .await
        .unwrap()
        .is_empty());
    tx.rollback().await.unwrap();
    let b = stored(
        &store,
        theirs,
        them,
        &put(key("shared", "", "01"), None, json!({}), 0, vec![]),
    )
    .await
    .unwrap();
    assert_ne!(a.run_id, b.run_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_checkpoints_racing_on_one_thread_make_one_run() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let racers = (0..6).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let p = put(
                key("race", "", &format!("0{i}")),
                None,
                json!({}),
                0,
                vec![],
            );
            stored(&store, tenant, user, &p).await.unwrap().run_id
        })
    });
    let mut runs = Vec::new();
    for racer in racers {
        runs.push(racer.await.unwrap());
    }
    runs.dedup();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        db.scalar("SELECT count(*) FROM langgraph_checkpoints")
            .await,
        6
    );
}

#[tokio::test]
async fn a_re_put_replaces_the_document_and_is_recorded_again() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let mut p = put(key("t-r", "", "01"), None, json!({}), 0, vec![]);
    stored(&store, tenant, user, &p).await.unwrap();
    p.metadata = json!({ "source": "update", "step": 0 });
    stored(&store, tenant, user, &p).await.unwrap();
    assert_eq!(
        db.scalar("SELECT count(*) FROM langgraph_checkpoints")
            .await,
        1
    );
    assert_eq!(
        db.text("SELECT metadata->>'source' FROM langgraph_checkpoints")
            .await,
        "update"
    );
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM orchestration_events WHERE event_type = 'CHECKPOINT_SAVED'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn bad_keys_and_documents_are_refused_and_nothing_is_written() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let blank = put(key("", "", "01"), None, json!({}), 0, vec![]);
    let long = put(key(&"x".repeat(256), "", "01"), None, json!({}), 0, vec![]);
    let mut not_object = put(key("t", "", "01"), None, json!({}), 0, vec![]);
    not_object.checkpoint = json!([1, 2]);
    // A type tag longer than its column holds is refused by the store, by name.
    let mut long_type = put(
        key("t", "", "01"),
        None,
        json!({ "a": "1" }),
        0,
        vec![value("a", "1", b"v")],
    );
    long_type.values[0].value.kind = "t".repeat(101);
    for p in [blank, long, not_object, long_type] {
        let refused = stored(&store, tenant, user, &p).await.unwrap_err();
        assert!(matches!(refused, StoreError::InvalidInput(_)), "{refused}");
    }
    assert_eq!(db.scalar("SELECT count(*) FROM runs").await, 0);
    assert_eq!(
        db.scalar("SELECT count(*) FROM langgraph_checkpoints")
            .await,
        0
    );
}
