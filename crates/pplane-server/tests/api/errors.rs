//! Errors are RFC 9457 problem documents with a stable type per kind, and
//! carry no SQL or internal detail.

use pplane_domain::ApiScope;
use reqwest::Method;
use serde_json::json;

use crate::support::Served;

#[tokio::test]
async fn bad_requests_get_a_problem_that_names_what_was_wrong() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Runtime).await;
    let got = c
        .post("/v1/signals", json!({ "channel": "t", "source_id": "s" }))
        .await
        .expect(201);
    let run = got["run_id"].as_str().unwrap();

    // Not JSON at all: 400.
    let raw = c
        .http
        .post(format!("{}/v1/runs/{run}/steps", c.base))
        .bearer_auth(c.key.as_deref().unwrap())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let answer = crate::support::answer(raw).await;
    assert_eq!(answer.status.as_u16(), 400, "{:#}", answer.body);
    // A body that is not declared as JSON: 415, even where a body is optional.
    let untyped = c
        .http
        .post(format!("{}/v1/runs/{run}/start", c.base))
        .bearer_auth(c.key.as_deref().unwrap())
        .body("{}")
        .send()
        .await
        .unwrap();
    crate::support::answer(untyped)
        .await
        .problem(415, "invalid-input");
    // A field of the wrong type: 422, naming it.
    let wrong = c
        .post(&format!("/v1/runs/{run}/steps"), json!({ "step_type": 7 }))
        .await
        .problem(422, "invalid-input");
    assert!(
        wrong["detail"].as_str().unwrap().contains("step_type"),
        "{wrong}"
    );
    // A query parameter of the wrong type: 422, naming it.
    let query = c
        .get("/v1/events?after=soon")
        .await
        .problem(422, "invalid-input");
    assert!(
        query["detail"].as_str().unwrap().contains("after"),
        "{query}"
    );
    // A malformed id: 422.
    c.get("/v1/runs/not-a-uuid")
        .await
        .problem(422, "invalid-input");
    // A version that no longer holds: 409 with the current one.
    let stale = c
        .post(
            &format!("/v1/runs/{run}/start"),
            json!({ "expected_version": 5 }),
        )
        .await
        .problem(409, "conflict");
    assert_eq!(stale["current_version"], 1, "{stale}");
    // An illegal move: 409, the state error the CLI prints too.
    let illegal = c
        .post(&format!("/v1/runs/{run}/complete"), json!({}))
        .await
        .problem(409, "invalid-transition");
    assert!(
        illegal["detail"].as_str().unwrap().contains("PENDING"),
        "{illegal}"
    );
    // Over the limit: 413, from the declared length.
    let huge = "x".repeat(pplane_server::routes::BODY_MAX + 1);
    let big = c
        .post(
            &format!("/v1/runs/{run}/checkpoints"),
            json!({ "state": { "blob": huge } }),
        )
        .await;
    let big = big.problem(413, "payload-too-large");
    assert!(
        big["detail"].as_str().unwrap().contains("over the limit"),
        "the limit, not the framework's wording: {big}"
    );
    // Unknown routes are problems too.
    c.send(Method::GET, "/v1/nothing-here", None)
        .await
        .problem(404, "not-found");
    served.stop().await;
}
