//! LangGraph's checkpointer protocol over HTTP: a checkpoint goes in with its
//! values as base64 and comes back whole with its pending writes; a thread
//! id is the tenant's own (another tenant's same id is another thread); a
//! read key reads only; a checkpoint may be larger than other bodies; the
//! deletions answer what they took and record it.

use pplane_domain::ApiScope;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{Client, Served};

fn checkpoint(id: &str, parent: Option<&str>, data: &str) -> Value {
    json!({
        "checkpoint_id": id,
        "parent_checkpoint_id": parent,
        "checkpoint": { "v": 4, "id": id, "channel_versions": { "messages": id } },
        "metadata": { "source": "loop", "step": 1, "run_id": "lg-run-1" },
        "values": [{ "channel": "messages", "version": id,
                     "value": { "type": "msgpack", "data": data } }],
    })
}

async fn put(c: &Client, thread: &str, body: Value) -> Value {
    c.post(&format!("/v1/langgraph/threads/{thread}/checkpoints"), body)
        .await
        .expect(201)
}

/// Checkpoints 0001, 0002 and 0003 of `thread`, each the parent of the next.
async fn three_checkpoints(c: &Client, thread: &str) {
    for (id, parent) in [
        ("0001", None),
        ("0002", Some("0001")),
        ("0003", Some("0002")),
    ] {
        put(c, thread, checkpoint(id, parent, "AA==")).await;
    }
}

#[tokio::test]
async fn a_checkpoint_comes_back_whole_with_its_values_and_writes() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Runtime).await;
    let stored = put(&c, "t-1", checkpoint("0001", None, "AAEC/w==")).await;
    assert_eq!(stored["key"]["checkpoint_id"], "0001");
    assert_eq!(stored["events"].as_array().unwrap().len(), 4, "{stored:#}");
    let writes = json!({ "checkpoint_id": "0001", "writes": [
        { "task_id": "task-a", "idx": 0, "channel": "messages", "task_path": "~a",
          "value": { "type": "json", "data": "e30=" } },
        { "task_id": "task-a", "idx": -1, "channel": "__error__",
          "value": { "type": "empty", "data": null } },
    ]});
    c.post("/v1/langgraph/threads/t-1/writes", writes)
        .await
        .expect(200);

    let tuple = c
        .get("/v1/langgraph/threads/t-1/checkpoint")
        .await
        .expect(200);
    assert_eq!(tuple["key"]["thread_id"], "t-1");
    assert_eq!(tuple["values"][0]["value"]["data"], "AAEC/w==");
    let written: Vec<(&str, i64)> = tuple["writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["channel"].as_str().unwrap(), w["idx"].as_i64().unwrap()))
        .collect();
    assert_eq!(written, [("__error__", -1), ("messages", 0)]);
    assert_eq!(tuple["writes"][1]["task_path"], "~a");

    // The thread's run holds the checkpoint, as any run's does.
    let run = stored["run_id"].as_str().unwrap();
    let view = c.get(&format!("/v1/runs/{run}")).await.expect(200);
    assert_eq!(
        view["checkpoint"]["state"]["langgraph"]["checkpoint_id"],
        "0001"
    );
    served.stop().await;
}

#[tokio::test]
async fn search_answers_newest_first_filtered_by_metadata_and_before() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Runtime).await;
    three_checkpoints(&c, "t-1").await;
    let ids = |page: Value| -> Vec<String> {
        page["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["key"]["checkpoint_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = c
        .post(
            "/v1/langgraph/checkpoints/search",
            json!({ "thread_id": "t-1" }),
        )
        .await
        .expect(200);
    assert_eq!(ids(all), ["0003", "0002", "0001"]);
    let older = c
        .post(
            "/v1/langgraph/checkpoints/search",
            json!({ "before": "0003", "limit": 1, "metadata": { "source": "loop" } }),
        )
        .await
        .expect(200);
    assert_eq!(ids(older), ["0002"]);
    let none = c
        .post(
            "/v1/langgraph/checkpoints/search",
            json!({ "metadata": { "source": "input" } }),
        )
        .await
        .expect(200);
    assert!(ids(none).is_empty());
    c.post("/v1/langgraph/checkpoints/search", json!({ "limit": 101 }))
        .await
        .problem(422, "invalid-input");
    served.stop().await;
}

#[tokio::test]
async fn another_tenants_same_thread_id_is_another_thread() {
    let served = Served::start().await;
    let a = served.tenant(ApiScope::Runtime).await;
    let b = served.tenant(ApiScope::Runtime).await;
    put(&a, "shared", checkpoint("0001", None, "QQ==")).await;
    b.get("/v1/langgraph/threads/shared/checkpoint")
        .await
        .problem(404, "not-found");
    let seen = b
        .post("/v1/langgraph/checkpoints/search", json!({}))
        .await
        .expect(200);
    assert!(seen["checkpoints"].as_array().unwrap().is_empty());
    // B's delete and copy of the id find nothing of A's.
    let deleted = b
        .send(Method::DELETE, "/v1/langgraph/threads/shared", None)
        .await
        .expect(200);
    assert!(deleted["checkpoints"].as_array().unwrap().is_empty());
    b.post(
        "/v1/langgraph/threads/shared/copy",
        json!({ "target_thread_id": "mine" }),
    )
    .await
    .expect(200);
    put(&b, "shared", checkpoint("0001", None, "Qg==")).await;
    let theirs = a
        .get("/v1/langgraph/threads/shared/checkpoint")
        .await
        .expect(200);
    assert_eq!(theirs["values"][0]["value"]["data"], "QQ==");
    let ours = b
        .get("/v1/langgraph/threads/shared/checkpoint")
        .await
        .expect(200);
    assert_eq!(ours["values"][0]["value"]["data"], "Qg==");
    served.stop().await;
}

#[tokio::test]
async fn a_read_key_reads_and_changes_nothing() {
    let served = Served::start().await;
    let writer = served.tenant(ApiScope::Runtime).await;
    put(&writer, "t-1", checkpoint("0001", None, "AA==")).await;
    let reader = served
        .client(writer.tenant, writer.user, ApiScope::Read)
        .await;
    reader
        .get("/v1/langgraph/threads/t-1/checkpoint")
        .await
        .expect(200);
    reader
        .post(
            "/v1/langgraph/threads/t-2/checkpoints",
            checkpoint("0001", None, "AA=="),
        )
        .await
        .problem(403, "forbidden");
    reader
        .send(Method::DELETE, "/v1/langgraph/threads/t-1", None)
        .await
        .problem(403, "forbidden");
    reader
        .post(
            "/v1/langgraph/prune",
            json!({ "thread_ids": ["t-1"], "strategy": "delete" }),
        )
        .await
        .problem(403, "forbidden");
    writer
        .get("/v1/langgraph/threads/t-1/checkpoint")
        .await
        .expect(200);
    writer
        .get("/v1/langgraph/threads/t-2/checkpoint")
        .await
        .problem(404, "not-found");
    served.stop().await;
}

#[tokio::test]
async fn a_checkpoint_over_other_bodies_limit_is_taken_and_bad_base64_is_refused() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Runtime).await;
    // 3 MiB of value: over the 2 MiB every other route takes.
    let big = "A".repeat(4 * 1024 * 1024);
    put(&c, "t-1", checkpoint("0001", None, &big)).await;
    let tuple = c
        .get("/v1/langgraph/threads/t-1/checkpoint")
        .await
        .expect(200);
    assert_eq!(
        tuple["values"][0]["value"]["data"].as_str().unwrap().len(),
        big.len()
    );
    let refused = c
        .post(
            "/v1/langgraph/threads/t-1/checkpoints",
            checkpoint("0002", None, "not base64!"),
        )
        .await
        .problem(422, "invalid-input");
    assert!(refused["detail"].as_str().unwrap().contains("base64"));
    c.get("/v1/langgraph/threads/t-1/checkpoint?checkpoint_id=0002")
        .await
        .problem(404, "not-found");
    served.stop().await;
}

#[tokio::test]
async fn deletions_answer_what_they_took_and_record_it() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Runtime).await;
    three_checkpoints(&c, "t-1").await;
    put(&c, "t-2", checkpoint("0001", None, "AA==")).await;
    let copied = c
        .post(
            "/v1/langgraph/threads/t-1/copy",
            json!({ "target_thread_id": "t-3" }),
        )
        .await
        .expect(200);
    assert_eq!(copied["checkpoints"].as_array().unwrap().len(), 3);

    let pruned = c
        .post(
            "/v1/langgraph/prune",
            json!({ "thread_ids": ["t-1"], "strategy": "keep_latest" }),
        )
        .await
        .expect(200);
    assert_eq!(pruned["checkpoints"].as_array().unwrap().len(), 2);
    assert_eq!(pruned["events"].as_array().unwrap().len(), 2);
    c.get("/v1/langgraph/threads/t-1/checkpoint?checkpoint_id=0001")
        .await
        .problem(404, "not-found");
    c.get("/v1/langgraph/threads/t-1/checkpoint?checkpoint_id=0003")
        .await
        .expect(200);

    let runs = c
        .post(
            "/v1/langgraph/runs/delete",
            json!({ "run_ids": ["lg-run-1"] }),
        )
        .await
        .expect(200);
    // t-1's survivor, t-2's one, t-3's three copies.
    assert_eq!(runs["checkpoints"].as_array().unwrap().len(), 5);
    let events = c.get("/v1/events?limit=200").await.expect(200);
    let deleted = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "CHECKPOINT_DELETED")
        .count();
    assert_eq!(deleted, 7);
    served.stop().await;
}
