//! `pplane checkpoints prune`: checkpoint retention (LangGraph's documents,
//! run checkpoints' superseded states) in one tenant or, with the operator
//! login, across every tenant; each recorded as CHECKPOINT_DELETED, the
//! data gate still green afterwards.

use pplane_domain::{Actor, TenantId, UserId};
use pplane_store::operations::checkpoints::checkpoint_save;
use pplane_store::operations::ingest::SignalInput;
use pplane_store::operations::langgraph::ChannelValue;
use pplane_store::operations::langgraph::{
    langgraph_checkpoint_put, langgraph_checkpoint_search, CheckpointKey, CheckpointPut,
    CheckpointSearch, Serialized,
};
use pplane_store::operations::Origin;
use pplane_store::testing::{signal_ingest_alone, TestDb};
use pplane_store::Store;
use serde_json::json;

use crate::support::{pplane, Home};

/// `count` checkpoints of a thread's namespace, each with a new value.
async fn checkpoints(store: &Store, who: (TenantId, UserId), thread: &str, ns: &str, count: u32) {
    let origin = Origin::by("agent:langgraph".parse::<Actor>().unwrap());
    for i in 0..count {
        let id = format!("{i:04}");
        let put = CheckpointPut {
            key: CheckpointKey {
                thread_id: thread.into(),
                checkpoint_ns: ns.into(),
                checkpoint_id: id.clone(),
            },
            parent_checkpoint_id: None,
            checkpoint: json!({ "channel_versions": { "c": id } }),
            metadata: json!({ "step": i }),
            values: vec![ChannelValue {
                channel: "c".into(),
                version: id,
                value: Serialized {
                    kind: "bytes".into(),
                    bytes: Some(vec![1, 2, 3]),
                },
            }],
        };
        let mut tx = store.tenant_tx(who.0, who.1).await.unwrap();
        langgraph_checkpoint_put(&mut tx, &put, &origin)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

/// A run of the tenant's (not a thread) with `count` checkpoints.
async fn run_checkpoints(store: &Store, who: (TenantId, UserId), count: u32) {
    let signal = SignalInput {
        channel: "chat".into(),
        source_id: format!("run-{count}"),
        payload: json!({}),
        domain_refs: json!({}),
        actor: "user:alice".parse().unwrap(),
    };
    let run = signal_ingest_alone(store, who.0, who.1, &signal)
        .await
        .unwrap()
        .into_value()
        .run_id;
    let origin = Origin::by("agent:planner".parse::<Actor>().unwrap());
    let mut tx = store.tenant_tx(who.0, who.1).await.unwrap();
    for n in 0..count {
        checkpoint_save(&mut tx, run, &json!({ "n": n }), None, &origin)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The tenant's checkpoints, as (thread, namespace, count).
async fn held(store: &Store, who: (TenantId, UserId)) -> Vec<(String, String, usize)> {
    let mut tx = store.tenant_tx(who.0, who.1).await.unwrap();
    let search = CheckpointSearch {
        limit: 100,
        ..CheckpointSearch::default()
    };
    let found = langgraph_checkpoint_search(&mut tx, &search).await.unwrap();
    tx.commit().await.unwrap();
    let mut counts: Vec<(String, String, usize)> = Vec::new();
    for t in found {
        match counts
            .iter_mut()
            .find(|c| c.0 == t.key.thread_id && c.1 == t.key.checkpoint_ns)
        {
            Some(c) => c.2 += 1,
            None => counts.push((t.key.thread_id, t.key.checkpoint_ns, 1)),
        }
    }
    counts.sort();
    counts
}

fn ids(created: &serde_json::Value) -> (TenantId, UserId) {
    (
        created["tenant_id"].as_str().unwrap().parse().unwrap(),
        created["user_id"].as_str().unwrap().parse().unwrap(),
    )
}

#[tokio::test]
async fn prune_keeps_the_newest_per_namespace_in_one_tenant_then_in_every_one_and_records_it() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let home = Home::new();
    let url = Some(db.url());
    let cli = |args: &[&str]| pplane(home.path(), url, args);
    let a_created = cli(&["tenant", "create", "a", "--json"]).json();
    let b_created = cli(&["tenant", "create", "b", "--json"]).json();
    let (a, b) = (ids(&a_created), ids(&b_created));
    checkpoints(&store, a, "t1", "", 5).await;
    checkpoints(&store, a, "t1", "sub", 3).await;
    checkpoints(&store, a, "t2", "", 2).await;
    checkpoints(&store, b, "t1", "", 4).await;
    run_checkpoints(&store, a, 3).await;
    run_checkpoints(&store, b, 4).await;

    let tenant_a = a.0.to_string();
    let one = cli(&[
        "checkpoints",
        "prune",
        "--keep-latest",
        "2",
        "--tenant",
        &tenant_a,
        "--json",
    ]);
    assert_eq!(one.code, 0, "{one:?}");
    assert_eq!(one.json()["pruned"], 4);
    assert_eq!(one.json()["states_pruned"], 1, "the run's oldest of 3");
    assert_eq!(
        held(&store, a).await,
        [
            ("t1".into(), "".into(), 2),
            ("t1".into(), "sub".into(), 2),
            ("t2".into(), "".into(), 2)
        ]
    );
    assert_eq!(held(&store, b).await, [("t1".into(), "".into(), 4)]);

    // Every tenant, with the operator login the test database gives.
    let plane = cli(&["checkpoints", "prune", "--keep-latest", "1", "--json"]).json();
    assert_eq!(plane["scope"], "plane", "{plane}");
    assert_eq!(plane["pruned"], 6, "{plane}");
    assert_eq!(plane["states_pruned"], 1 + 3, "{plane}");
    assert_eq!(held(&store, b).await, [("t1".into(), "".into(), 1)]);

    let gate = cli(&["check", "data"]);
    assert_eq!(gate.code, 0, "the data gate after a prune: {gate:?}");

    // Each deletion is an event of the tenant's log, saying why.
    let trace = cli(&["trace", "--thread", "t1", "--tenant", &tenant_a, "--json"]).json();
    let reasons: Vec<&str> = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "CHECKPOINT_DELETED")
        .map(|e| e["event_data"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 3 + 1 + 1 + 1, "{reasons:?}");
    assert!(reasons.contains(&"keep latest 2") && reasons.contains(&"keep latest 1"));

    std::thread::sleep(std::time::Duration::from_millis(1100));
    let old = cli(&["checkpoints", "prune", "--older-than", "1s", "--json"]).json();
    assert_eq!(old["pruned"], 4);
    assert_eq!(old["states_pruned"], 0, "each run's newest keeps its state");
    assert!(held(&store, a).await.is_empty() && held(&store, b).await.is_empty());
    assert_eq!(cli(&["check", "data"]).code, 0);
}

#[tokio::test]
async fn prune_refuses_what_it_cannot_mean_and_changes_nothing() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let home = Home::new();
    let url = Some(db.url());
    let cli = |args: &[&str]| pplane(home.path(), url, args);
    let a = ids(&cli(&["tenant", "create", "a", "--json"]).json());
    checkpoints(&store, a, "t1", "", 3).await;
    for args in [
        &["checkpoints", "prune"][..],
        &["checkpoints", "prune", "--keep-latest", "0"],
        &[
            "checkpoints",
            "prune",
            "--keep-latest",
            "1",
            "--older-than",
            "1d",
        ],
        &["checkpoints", "prune", "--older-than", "1 week"],
        &["checkpoints", "prune", "--keep-latest", "1", "--user", "x"],
        &[
            "checkpoints",
            "prune",
            "--keep-latest",
            "1",
            "--tenant",
            "nope",
        ],
    ] {
        let refused = cli(args);
        assert_eq!(refused.code, 2, "{args:?}: {refused:?}");
    }
    assert_eq!(held(&store, a).await, [("t1".into(), "".into(), 3)]);
}
