//! Every operation the OpenAPI document lists, probed: without a key it is
//! 401; with another tenant's key (of the highest scope) and this tenant's
//! ids it finds nothing (404) and changes nothing; with a read key no
//! change goes through (403). LangGraph's thread ids are names the tenant
//! chooses, not ids the plane issues: another tenant's key naming the same
//! thread reaches its own thread of that name, never this one.

use std::collections::HashMap;

use pplane_domain::ApiScope;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{Client, Served};

/// A body each change would accept, so that only the ids decide the answer.
fn body_for(operation: &str) -> Value {
    match operation {
        "signal_ingest" => json!({ "channel": "probe", "source_id": "probe" }),
        "run_fail" | "step_fail" => json!({ "error": { "probe": true } }),
        "run_cancel" | "step_skip" | "step_cancel" => json!({ "reason": "probe" }),
        "step_add" => json!({ "step_type": "probe" }),
        "checkpoint_save" => json!({ "state": {} }),
        "tool_call_start" => json!({ "tool_name": "probe" }),
        "tool_call_finish" => json!({ "result": {} }),
        "effect_request" => {
            json!({ "effect_type": "E", "idempotency_key": "probe", "destination": "d" })
        }
        "destination_add" => json!({ "name": "probe", "nats": "probe.subject" }),
        // Everything delivered until a minute from now.
        "outbox_purge" => {
            json!({ "delivered_before": (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339() })
        }
        "langgraph_checkpoint_put" => json!({
            "checkpoint_id": "probe", "checkpoint": { "channel_versions": {} }, "metadata": {},
        }),
        "langgraph_writes_put" => json!({ "checkpoint_id": "probe", "writes": [] }),
        "langgraph_thread_copy" => json!({ "target_thread_id": "probe-copy" }),
        "langgraph_runs_delete" => json!({ "run_ids": [VICTIM_LANGGRAPH_RUN] }),
        "langgraph_prune" => json!({ "thread_ids": [VICTIM_THREAD], "strategy": "delete" }),
        _ => json!({}),
    }
}

/// Reads whose question is a body (a search's filter is JSON).
const READS_BY_POST: &[&str] = &["langgraph_checkpoint_search"];

const VICTIM_THREAD: &str = "victim-thread";
const VICTIM_LANGGRAPH_RUN: &str = "victim-langgraph-run";
/// The victim's checkpoint's value, base64: no other tenant may see it.
const VICTIM_VALUE: &str = "VklDVElN";

/// A tenant with one of everything an id can name, its effect delivered.
async fn victim(served: &Served) -> (Client, HashMap<&'static str, String>) {
    let op = served.tenant(ApiScope::Operator).await;
    let run = op.started_run_with_destination().await;
    let step = op
        .create(
            &format!("/v1/runs/{run}/steps"),
            json!({ "step_type": "x" }),
        )
        .await;
    op.post(&format!("/v1/steps/{step}/start"), json!({}))
        .await
        .expect(200);
    let call = op
        .post(
            &format!("/v1/steps/{step}/tool-calls"),
            json!({ "tool_name": "t" }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let requested = op
        .post(
            &format!("/v1/runs/{run}/effects"),
            json!({ "effect_type": "E", "idempotency_key": "k", "destination": "d" }),
        )
        .await
        .expect(201);
    let effect = requested["effect"]["id"].as_str().unwrap().to_owned();
    // Delivered, so that a purge from elsewhere would have something to take.
    assert_eq!(served.deliver_all().await, 1);
    let entry = op.get(&format!("/v1/effects/{effect}")).await.expect(200)["outbox"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    op.post(
        &format!("/v1/langgraph/threads/{VICTIM_THREAD}/checkpoints"),
        json!({
            "checkpoint_id": "0001",
            "checkpoint": { "channel_versions": { "c": "1" } },
            "metadata": { "run_id": VICTIM_LANGGRAPH_RUN },
            "values": [{ "channel": "c", "version": "1",
                         "value": { "type": "bytes", "data": VICTIM_VALUE } }],
        }),
    )
    .await
    .expect(201);
    let ids = HashMap::from([
        ("thread", VICTIM_THREAD.to_owned()),
        ("run", run.clone()),
        ("step", step),
        ("call", call),
        ("effect", effect),
        ("entry", entry),
        ("id", run),
    ]);
    (op, ids)
}

/// What the victim's tenant holds, as its operator reads it.
async fn holdings(op: &Client) -> Value {
    json!({
        "events": op.get("/v1/events?limit=1000").await.expect(200),
        "outbox": op.get("/v1/outbox").await.expect(200),
        "destinations": op.get("/v1/destinations").await.expect(200),
        "langgraph": op.post("/v1/langgraph/checkpoints/search", json!({})).await.expect(200),
    })
}

#[tokio::test]
async fn every_operation_is_fenced_by_key_tenant_and_scope() {
    let served = Served::start().await;
    let (op, ids) = victim(&served).await;
    let reader = served.client(op.tenant, op.user, ApiScope::Read).await;
    let intruder = served.tenant(ApiScope::Operator).await;
    let before = holdings(&op).await;

    let document = serde_json::to_value(pplane_server::openapi::document()).unwrap();
    let mut probed = 0;
    for (template, item) in document["paths"].as_object().unwrap() {
        if !template.starts_with("/v1/") {
            continue;
        }
        let mut path = template.clone();
        for (name, id) in &ids {
            path = path.replace(&format!("{{{name}}}"), id);
        }
        assert!(!path.contains('{'), "no id for {template}");
        for (method, operation) in item.as_object().unwrap() {
            let name = operation["operationId"].as_str().unwrap();
            let (method, body) = match method.as_str() {
                "get" => (Method::GET, None),
                "post" => (Method::POST, Some(body_for(name))),
                "delete" => (Method::DELETE, None),
                other => panic!("{other} {template}: unprobed method"),
            };
            probed += 1;
            op.without_key()
                .send(method.clone(), &path, body.clone())
                .await
                .problem(401, "unauthorized");
            if method != Method::GET && !READS_BY_POST.contains(&name) {
                reader
                    .send(method.clone(), &path, body.clone())
                    .await
                    .problem(403, "forbidden");
            }
            let answer = intruder.send(method.clone(), &path, body.clone()).await;
            if template.starts_with("/v1/langgraph/") {
                // The intruder's own threads: found empty, or not at all.
                if answer.status.as_u16() != 404 {
                    assert!(answer.status.is_success(), "{name}: {:#}", answer.body);
                }
                assert!(
                    !answer.body.to_string().contains(VICTIM_VALUE),
                    "{name} showed another tenant's LangGraph value"
                );
            } else if template.contains('{') {
                answer.problem(404, "not-found");
            } else {
                // No id to misuse: it answers about the intruder's own tenant.
                assert!(answer.status.is_success(), "{name}: {:#}", answer.body);
                assert!(
                    !answer.body.to_string().contains(&ids["run"]),
                    "{name} showed another tenant's run"
                );
            }
        }
    }
    assert!(probed >= 37, "only {probed} operations probed");
    assert_eq!(holdings(&op).await, before, "a probe changed the tenant");
    served.stop().await;
}
