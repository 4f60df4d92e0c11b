//! A run driven over HTTP from its signal to its end, then read back: every
//! change answers with what it changed and the events it appended.

use pplane_domain::ApiScope;
use pplane_store::operations::checkpoints::{checkpoints_prune_batch, CheckpointRetention};
use pplane_store::operations::Origin;
use serde_json::{json, Value};

use crate::support::Served;

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_run_is_driven_and_read_back_over_http() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Runtime).await;
    assert_eq!(c.get("/healthz").await.expect(200)["status"], "alive");
    assert_eq!(c.get("/readyz").await.expect(200)["status"], "ready");

    let signal = json!({ "channel": "support", "payload": { "subject": "refund" },
                         "domain_refs": { "order": "O-1" } });
    let mut with_key = c.http.post(format!("{}/v1/signals", c.base));
    with_key = with_key
        .bearer_auth(c.key.as_deref().unwrap())
        .header("Idempotency-Key", "ticket-1")
        .json(&signal);
    let ingested = crate::support::answer(with_key.send().await.unwrap())
        .await
        .expect(201);
    assert_eq!(ingested["duplicate"], false);
    assert_eq!(ingested["events"].as_array().unwrap().len(), 2);
    let again = c
        .post(
            "/v1/signals",
            json!({ "channel": "support", "source_id": "ticket-1",
                                     "payload": { "subject": "refund" },
                                     "domain_refs": { "order": "O-1" } }),
        )
        .await
        .expect(200);
    assert_eq!(
        (again["duplicate"].clone(), again["run_id"].clone()),
        (json!(true), ingested["run_id"].clone())
    );
    assert!(again["events"].as_array().unwrap().is_empty());

    let run = ingested["run_id"].as_str().unwrap().to_owned();
    let started = c
        .post(&format!("/v1/runs/{run}/start"), json!({}))
        .await
        .expect(200);
    assert_eq!(started["status"], "RUNNING");
    let step = c
        .post(
            &format!("/v1/runs/{run}/steps"),
            json!({ "step_type": "lookup" }),
        )
        .await
        .expect(201);
    let step_id = id(&step);
    c.post(&format!("/v1/steps/{step_id}/start"), json!({}))
        .await
        .expect(200);
    let call = c
        .post(
            &format!("/v1/steps/{step_id}/tool-calls"),
            json!({ "tool_name": "orders.get", "args": { "id": "O-1" } }),
        )
        .await
        .expect(201);
    let finished = c
        .post(
            &format!("/v1/tool-calls/{}/finish", id(&call)),
            json!({ "result": { "total": 42 } }),
        )
        .await
        .expect(200);
    assert_eq!(finished["status"], "COMPLETED");
    // A caller names a returned event as the cause of its next change.
    let cause = finished["events"][0]["event_id"].as_str().unwrap();
    c.post(
        &format!("/v1/steps/{step_id}/complete"),
        json!({ "output": { "ok": true }, "caused_by": cause, "actor": "agent:support-bot" }),
    )
    .await
    .expect(200);
    let saved = c
        .post(
            &format!("/v1/runs/{run}/checkpoints"),
            json!({ "state": { "at": 1 }, "last_step_index": 0 }),
        )
        .await
        .expect(201);
    let latest = c
        .get(&format!("/v1/runs/{run}/checkpoints/latest"))
        .await
        .expect(200);
    assert_eq!(latest["id"], saved["id"]);
    // A move whose body would only say who makes it may have no body at all.
    let done = c
        .send(
            reqwest::Method::POST,
            &format!("/v1/runs/{run}/complete"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(done["status"], "COMPLETED");

    let view = c.get(&format!("/v1/runs/{run}")).await.expect(200);
    assert_eq!(view["steps"][0]["status"], "COMPLETED");
    let trace = c.get(&format!("/v1/trace/{run}")).await.expect(200);
    assert_eq!(trace["correlation_id"], ingested["correlation_id"]);
    let completion = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "STEP_COMPLETED")
        .unwrap();
    assert_eq!(
        (
            completion["causation_id"].as_str(),
            completion["actor"].as_str()
        ),
        (Some(cause), Some("agent:support-bot"))
    );

    // The log in pages: every event once, in order.
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = c
            .get(&format!("/v1/events?after={after}&limit=3"))
            .await
            .expect(200);
        let events = page["events"].as_array().unwrap().clone();
        if events.is_empty() {
            break;
        }
        seen.extend(
            events
                .iter()
                .map(|e| e["sequence_number"].as_i64().unwrap()),
        );
        after = page["next_after"].as_i64().unwrap();
    }
    let total = trace["events"].as_array().unwrap().len() as i64;
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    served.stop().await;
}

#[tokio::test]
async fn a_runs_checkpoints_are_listed_newest_first_in_pages() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Runtime).await;
    let run = c.run("s").await;
    c.post(&format!("/v1/runs/{run}/start"), json!({}))
        .await
        .expect(200);
    let path = format!("/v1/runs/{run}/checkpoints");
    let empty = c.get(&path).await.expect(200);
    assert_eq!(empty, json!({ "checkpoints": [], "next_before": null }));
    let mut saved = Vec::new();
    for at in 0..3 {
        let cp = c
            .post(&path, json!({ "state": { "at": at } }))
            .await
            .expect(201);
        saved.push(id(&cp));
    }

    let first = c.get(&format!("{path}?limit=2")).await.expect(200);
    let ids: Vec<String> = first["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(ids, [saved[2].clone(), saved[1].clone()]);
    assert_eq!(first["checkpoints"][0]["state"], json!({ "at": 2 }));
    let before = first["next_before"].as_i64().expect("a next page");
    let rest = c
        .get(&format!("{path}?limit=2&before={before}"))
        .await
        .expect(200);
    let ids: Vec<String> = rest["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(ids, [saved[0].clone()]);
    assert_eq!(rest["next_before"], Value::Null);

    for bad in ["limit=0", "limit=51", "before=x"] {
        let answer = c
            .get(&format!("{path}?{bad}"))
            .await
            .problem(422, "invalid-input");
        let field = bad.split('=').next().unwrap();
        assert!(
            answer["detail"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }

    // Retention's prune keeps the rows: a pruned checkpoint lists with a
    // null state and when it lost it; the newest keeps its own.
    let mut tx = served.store.tenant_tx(c.tenant, c.user).await.unwrap();
    let origin = Origin::by("system:checkpoint-retention".parse().unwrap());
    checkpoints_prune_batch(&mut tx, CheckpointRetention::BeyondNewest(1), &origin)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let all = c.get(&path).await.expect(200);
    let shown: Vec<(Value, bool)> = all["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["state"].clone(), c["pruned_at"].is_string()))
        .collect();
    assert_eq!(
        shown,
        [
            (json!({ "at": 2 }), false),
            (Value::Null, true),
            (Value::Null, true)
        ]
    );
    served.stop().await;
}
