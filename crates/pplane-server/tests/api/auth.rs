//! Every request needs a key: none, a malformed, unknown, forged or revoked
//! one is 401; a key below the route's scope is 403; another tenant's ids
//! are 404, exactly as if they did not exist, and nothing changes.

use pplane_domain::api_key::ApiKeyText;
use pplane_domain::{ApiScope, UserId};
use pplane_store::operations::api_keys::api_key_revoke;
use serde_json::json;

use crate::support::Served;

#[tokio::test]
async fn no_key_a_bad_key_or_a_revoked_key_is_401() {
    let served = Served::start().await;
    let c = served.tenant(ApiScope::Runtime).await;
    let run = c.run("s-1").await;
    let path = format!("/v1/runs/{run}");
    c.without_key()
        .get(&path)
        .await
        .problem(401, "unauthorized");
    c.with_key("ppk_nonsense")
        .get(&path)
        .await
        .problem(401, "unauthorized");

    let good: ApiKeyText = c.key.as_deref().unwrap().parse().unwrap();
    let mut wrong_secret = good.clone();
    wrong_secret.secret[5] ^= 0x40;
    c.with_key(&wrong_secret.to_string())
        .get(&path)
        .await
        .problem(401, "unauthorized");
    // The same key text naming a principal that is not a member.
    let mut stranger = good.clone();
    stranger.user = UserId::new();
    c.with_key(&stranger.to_string())
        .get(&path)
        .await
        .problem(401, "unauthorized");

    c.get(&path).await.expect(200);
    let mut tx = served.store.tenant_tx(c.tenant, c.user).await.unwrap();
    api_key_revoke(&mut tx, c.key_id).await.unwrap();
    tx.commit().await.unwrap();
    let refused = c.get(&path).await.problem(401, "unauthorized");
    assert!(!refused["detail"].as_str().unwrap().contains("SELECT"));
    served.stop().await;
}

#[tokio::test]
async fn a_read_key_reads_and_writes_nothing() {
    let served = Served::start().await;
    let writer = served.tenant(ApiScope::Runtime).await;
    let run = writer.run("s-1").await;
    let reader = served
        .client(writer.tenant, writer.user, ApiScope::Read)
        .await;
    reader.get(&format!("/v1/runs/{run}")).await.expect(200);
    reader.get("/v1/events").await.expect(200);
    reader
        .post(&format!("/v1/runs/{run}/start"), json!({}))
        .await
        .problem(403, "forbidden");
    reader
        .post("/v1/signals", json!({ "channel": "t", "source_id": "s-2" }))
        .await
        .problem(403, "forbidden");
    let view = reader.get(&format!("/v1/runs/{run}")).await.expect(200);
    assert_eq!(view["run"]["status"], "PENDING");
    served.stop().await;
}

#[tokio::test]
async fn another_tenants_ids_are_not_found_and_nothing_changes() {
    let served = Served::start().await;
    let mine = served.tenant(ApiScope::Operator).await;
    let theirs = served.tenant(ApiScope::Runtime).await;
    let run = theirs.run("theirs").await;
    let step = theirs
        .create(
            &format!("/v1/runs/{run}/steps"),
            json!({ "step_type": "x" }),
        )
        .await;
    let before = theirs.get("/v1/events").await.expect(200);

    for path in [
        format!("/v1/runs/{run}"),
        format!("/v1/trace/{run}"),
        format!("/v1/runs/{run}/checkpoints/latest"),
        format!("/v1/runs/{run}/diagnosis"),
    ] {
        mine.get(&path).await.problem(404, "not-found");
    }
    for (path, body) in [
        (format!("/v1/runs/{run}/start"), json!({})),
        (format!("/v1/runs/{run}/cancel"), json!({ "reason": "x" })),
        (format!("/v1/runs/{run}/steps"), json!({ "step_type": "y" })),
        (
            format!("/v1/runs/{run}/checkpoints"),
            json!({ "state": {} }),
        ),
        (format!("/v1/steps/{step}/start"), json!({})),
        (
            format!("/v1/steps/{step}/tool-calls"),
            json!({ "tool_name": "t" }),
        ),
    ] {
        mine.post(&path, body).await.problem(404, "not-found");
    }
    assert!(mine.get("/v1/events").await.expect(200)["events"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(theirs.get("/v1/events").await.expect(200), before);
    served.stop().await;
}
